import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStatCsv, runtimeCommand } from '../../src/adapters/haproxy-socket.ts';
import { ZerodownError } from '../../src/domain/errors.ts';

// Shaped like HAProxy 2.6's `show stat -1 4 -1` answer: a "# " header, rows with a trailing comma.
const answer = [
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,check_status,check_code,hrsp_5xx,',
  'api,api-1,0,0,3,7,,1200,UP,L7OK,200,0,',
  'api,api-2,1,2,0,4,,900,DOWN,L4CON,,5,',
  '',
].join('\n');

describe('show stat CSV', () => {
  it('reads every row by header name', () => {
    const rows = parseStatCsv(answer);
    assert.equal(rows.length, 2);
    assert.deepEqual(
      rows.map((r) => [r.svname, r.scur, r.qcur, r.status, r.check_status, r.check_code]),
      [
        ['api-1', '3', '0', 'UP', 'L7OK', '200'],
        ['api-2', '0', '1', 'DOWN', 'L4CON', ''],
      ],
    );
  });

  it('follows the header when columns move (they differ between HAProxy versions)', () => {
    const [row] = parseStatCsv('# status,svname,pxname,scur\nDRAIN,api-3,api,2\n');
    assert.deepEqual(row, { status: 'DRAIN', svname: 'api-3', pxname: 'api', scur: '2' });
  });

  it("keeps only the named proxy's rows when asked, wherever its column is", () => {
    const csv = '# status,svname,pxname,scur\nUP,web-1,web,1\nDRAIN,api-3,api,2\nUP,api-4,api-old,0\n';
    assert.deepEqual(
      parseStatCsv(csv, 'api').map((r) => r.svname),
      ['api-3'],
    );
    assert.equal(parseStatCsv(csv).length, 3);
    assert.deepEqual(
      parseStatCsv('# svname,scur\nweb-1,1\n', 'api'),
      [],
      'no pxname column: no row is known to be its',
    );
  });

  it('gives missing trailing fields as empty strings and skips blank lines', () => {
    const rows = parseStatCsv('# pxname,svname,scur,qcur\n\napi,api-1\n\n');
    assert.deepEqual(rows, [{ pxname: 'api', svname: 'api-1', scur: '', qcur: '' }]);
  });

  it('refuses an answer that is not stat CSV, quoting it', () => {
    assert.throws(() => parseStatCsv('Unknown command. Please enter one of the following commands only :'), {
      message: /unexpected "show stat" answer: Unknown command/,
    });
  });
});

describe('runtime API socket', () => {
  it('says the socket does not exist and how to start the load balancer (a retryable, unreachable error)', async () => {
    await assert.rejects(runtimeCommand('/nonexistent/zerodown-test/admin.sock', 'show info', 1000), (error) => {
      assert.ok(error instanceof ZerodownError);
      assert.equal(error.kind, 'unreachable');
      assert.match(error.message, /admin\.sock does not exist/);
      assert.match(error.hint ?? '', /zerodown fleet up/);
      return true;
    });
  });

  it('refuses a command that would smuggle in a second one', async () => {
    await assert.rejects(runtimeCommand('/nonexistent.sock', 'show info; shutdown sessions'), /semicolon/);
  });
});
