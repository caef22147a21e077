import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeControls, maxWordLength, terminalSafe } from '../../src/client/terminal-text.ts';

test('control characters, bidi marks and zero-width characters are escaped; tab, newline and other text stay', () => {
  assert.equal(escapeControls('a\u001b[2Jb\u0007\u009b'), 'a\\u001b[2Jb\\u0007\\u009b');
  assert.equal(escapeControls('\u202eevil\u2066\u200b\ufeff'), '\\u202eevil\\u2066\\u200b\\ufeff');
  assert.equal(escapeControls('line\r'), 'line\\u000d');
  assert.equal(escapeControls('tab\tnew\nline é ✓ 日本'), 'tab\tnew\nline é ✓ 日本');
});

test('a long echoed value shows a bounded excerpt with its start, its end and how much was left out', () => {
  const name = `start${'x'.repeat(9990)}end`;
  const safe = terminalSafe(`unknown service "${name}": use another`);
  assert.ok(safe.length < maxWordLength + 60, `${safe.length} characters`);
  assert.match(safe, /^unknown service "startx+…\[\d+ characters left out\]…x+end": use another$/);
  assert.equal(terminalSafe('short words stay as they are'), 'short words stay as they are');
  const manyWords = terminalSafe('ab '.repeat(5000));
  assert.ok(manyWords.length < 2100, 'a long line of short words is bounded too');
});
