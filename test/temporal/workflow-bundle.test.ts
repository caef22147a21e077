import assert from 'node:assert/strict';
import vm from 'node:vm';
import { describe, it } from 'node:test';
import { asciiOnly } from '../../scripts/workflow-bundle.mjs';

describe('asciiOnly (the workflow bundle as the build writes it)', () => {
  it('escapes every character outside ASCII, and the program means the same', () => {
    const code =
      "// a dash — and an arrow →\nconst s = 'a—b👇';\nconst t = `x→${s}`;\nconst r = /^[—–]+$/u.test('—–');\n[s, t, r]";
    const escaped = asciiOnly(code);
    assert.equal(/[\u0080-\uffff]/.test(escaped), false, escaped);
    assert.equal(JSON.stringify(vm.runInNewContext(escaped)), JSON.stringify(vm.runInNewContext(code)));
  });

  it('leaves a bundle with a raw template or a line separator as it is', () => {
    for (const code of ['const s = String.raw`—`;', 'const s = 1; // a\u2028s = 2; —']) {
      assert.equal(asciiOnly(code), code);
    }
  });

  it('fails, instead of writing a broken bundle, when an escape would not compile', () => {
    // An identifier beyond the Basic Multilingual Plane cannot be written as two escaped surrogates.
    assert.throws(() => asciiOnly('const 𝑥 = 1;'), SyntaxError);
  });
});
