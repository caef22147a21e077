import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { ZerodownError } from '../../src/domain/errors.ts';
import { installTemporalCli, reportedVersion, temporalCliModule } from '../../src/temporal/install.ts';

// A stand-in `go` (a real build takes minutes, or ~17 s from Go's cache): it records its arguments and
// "builds" a temporal CLI that reports the version the linker flag stamps, or 0.0.0-DEV without it.
const fakeGo = `#!/bin/sh
echo "$@" > "$(dirname "$0")/go-args"
[ -f "$(dirname "$0")/go-fails" ] && exit 1
version=0.0.0-DEV
case "$3" in -X*=*) version="\${3##*=}";; esac
printf '#!/bin/sh\\necho "temporal version %s (Server 1.29.1, UI 2.42.1)"\\n' "$version" > "$GOBIN/temporal"
chmod +x "$GOBIN/temporal"
`;

const cliReporting = (version: string) => `#!/bin/sh\necho "temporal version ${version} (Server 1.29.1, UI 2.42.1)"\n`;

let scratch: string;
let binDir: string;
let toolDir: string;
let go: string;
const savedEnv = { PATH: process.env.PATH, ZERODOWN_TEMPORAL_BIN: process.env.ZERODOWN_TEMPORAL_BIN };

before(() => {
  // No `temporal` on PATH may answer for the project-local one.
  process.env.PATH = '/usr/bin:/bin';
  delete process.env.ZERODOWN_TEMPORAL_BIN;
});
after(() => {
  process.env.PATH = savedEnv.PATH;
  if (savedEnv.ZERODOWN_TEMPORAL_BIN !== undefined) process.env.ZERODOWN_TEMPORAL_BIN = savedEnv.ZERODOWN_TEMPORAL_BIN;
});
beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'zerodown-install-'));
  binDir = path.join(scratch, 'bin');
  toolDir = path.join(scratch, 'go');
  mkdirSync(toolDir);
  go = path.join(toolDir, 'go');
  writeFileSync(go, fakeGo, { mode: 0o755 });
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

const goArgs = () =>
  existsSync(path.join(toolDir, 'go-args')) ? readFileSync(path.join(toolDir, 'go-args'), 'utf8') : undefined;

describe('installing the Temporal CLI', () => {
  it('builds it stamped with the pinned version, through a scratch folder that is gone afterwards', () => {
    const binary = installTemporalCli({ binDir, go });
    assert.equal(binary, path.join(binDir, 'temporal'));
    assert.equal(reportedVersion(binary), '1.5.1');
    assert.equal(
      goArgs()?.trim(),
      `install -ldflags -X github.com/temporalio/cli/temporalcli.Version=1.5.1 ${temporalCliModule}`,
    );
    assert.deepEqual(readdirSync(binDir), ['temporal']);
  });

  it('rebuilds a project-local CLI that reports 0.0.0-DEV, and leaves a stamped one alone', () => {
    mkdirSync(binDir);
    writeFileSync(path.join(binDir, 'temporal'), cliReporting('0.0.0-DEV'), { mode: 0o755 });
    const lines: string[] = [];
    installTemporalCli({ binDir, go, log: (line) => lines.push(line) });
    assert.equal(reportedVersion(path.join(binDir, 'temporal')), '1.5.1');
    assert.match(lines.join('\n'), /reports version 0\.0\.0-DEV, built without the version stamp/);

    rmSync(path.join(toolDir, 'go-args'));
    installTemporalCli({ binDir, go });
    assert.equal(goArgs(), undefined, 'a stamped CLI is not rebuilt');
  });

  it('keeps an unstamped CLI when the rebuild fails or Go is missing: it still runs the dev server', () => {
    mkdirSync(binDir);
    writeFileSync(path.join(binDir, 'temporal'), cliReporting('0.0.0-DEV'), { mode: 0o755 });
    writeFileSync(path.join(toolDir, 'go-fails'), '');
    const lines: string[] = [];
    assert.equal(installTemporalCli({ binDir, go, log: (line) => lines.push(line) }), path.join(binDir, 'temporal'));
    assert.match(lines.join('\n'), /building the Temporal CLI failed \(go install exited 1\); keeping the unstamped/);
    assert.equal(reportedVersion(path.join(binDir, 'temporal')), '0.0.0-DEV');
    assert.deepEqual(readdirSync(binDir), ['temporal'], 'no scratch folder is left behind');
    assert.equal(installTemporalCli({ binDir, go: undefined }), path.join(binDir, 'temporal'));
  });

  it('says what to install when there is neither a CLI nor Go', () => {
    assert.throws(
      () => installTemporalCli({ binDir, go: undefined }),
      (error: unknown) =>
        error instanceof ZerodownError &&
        /no Temporal CLI was found and Go is not installed/.test(error.message) &&
        /install Go 1\.25 or newer/.test(error.hint ?? ''),
    );
    assert.equal(existsSync(binDir), false, 'nothing is created');
  });
});
