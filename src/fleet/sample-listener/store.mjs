// The listener's records in PostgreSQL (docs/roles.md, "listener"): the events it saw, the blocks
// it processed and its checkpoint, written together in one transaction per block, so a crash at
// any moment leaves either the whole block or none of it.

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens the listener's tables in the service database; `pg` is the `pg` module. */
export function openStore(pg, { databaseUrl, service, checkpointTable = 'zd_listener_checkpoint', onError }) {
  if (!identifier.test(checkpointTable)) {
    throw new Error(
      `checkpoint.table ${JSON.stringify(checkpointTable)} is not a plain lower-case SQL name; use letters, digits and _`,
    );
  }
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 3,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 10_000,
    // A statement never hangs the loop for long; a block's transaction is a handful of inserts.
    statement_timeout: 10_000,
  });
  pool.on('error', (error) => onError?.(error));
  const cp = checkpointTable;

  async function inTransaction(body) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query(result === false ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  return {
    async ensureSchema() {
      // Two instances starting together would race on CREATE TABLE IF NOT EXISTS; the lock orders them.
      await inTransaction(async (c) => {
        await c.query("SELECT pg_advisory_xact_lock(hashtext('zerodown listener schema'))");
        await c.query(`CREATE TABLE IF NOT EXISTS ${cp} (
          service text PRIMARY KEY, block bigint NOT NULL, hash text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`);
        await c.query(`CREATE TABLE IF NOT EXISTS zd_listener_events (
          service text NOT NULL, block bigint NOT NULL, log_index integer NOT NULL, tx_hash text NOT NULL,
          block_hash text NOT NULL, address text NOT NULL, instance text NOT NULL, version text NOT NULL,
          recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (service, block, log_index))`);
        // One row per processing of a block (not unique on purpose: a block processed twice shows twice).
        await c.query(`CREATE TABLE IF NOT EXISTS zd_listener_blocks (
          service text NOT NULL, block bigint NOT NULL, hash text NOT NULL, parent_hash text NOT NULL,
          events integer NOT NULL, instance text NOT NULL, version text NOT NULL,
          processed_at timestamptz NOT NULL DEFAULT now())`);
        await c.query('CREATE INDEX IF NOT EXISTS zd_listener_blocks_by_block ON zd_listener_blocks (service, block)');
        await c.query(`CREATE TABLE IF NOT EXISTS zd_listener_reorgs (
          service text NOT NULL, from_block bigint NOT NULL, from_hash text NOT NULL, to_block bigint,
          instance text NOT NULL, version text NOT NULL, detected_at timestamptz NOT NULL DEFAULT now())`);
      });
    },

    async ping() {
      await pool.query('SELECT 1');
    },

    /** The stored checkpoint, `{ block, hash }`, or null before the first block. */
    async checkpoint() {
      const { rows } = await pool.query(`SELECT block, hash FROM ${cp} WHERE service = $1`, [service]);
      return rows[0] ? { block: Number(rows[0].block), hash: rows[0].hash } : null;
    },

    /** The hash this service recorded for `block` (its latest processing), or undefined. */
    async storedHash(block) {
      const { rows } = await pool.query(
        'SELECT hash FROM zd_listener_blocks WHERE service = $1 AND block = $2 ORDER BY processed_at DESC LIMIT 1',
        [service, block],
      );
      return rows[0]?.hash;
    },

    /** The lowest block this service has a record of, or undefined. */
    async lowestBlock() {
      const { rows } = await pool.query('SELECT min(block) AS block FROM zd_listener_blocks WHERE service = $1', [
        service,
      ]);
      return rows[0]?.block == null ? undefined : Number(rows[0].block);
    },

    /**
     * Writes one block: moves the checkpoint from `previous` (null: no checkpoint yet) to this
     * block, records its events and the block, then runs `hold` (a misbehaving version's delay)
     * and commits. Answers false, writing nothing, when the checkpoint is no longer `previous`
     * (another instance moved it): the compare-and-set is what makes "exactly once" hold even
     * with two processes.
     */
    async commitBlock({ previous, block, identity, hold }) {
      return await inTransaction(async (c) => {
        const moved = previous
          ? await c.query(
              `UPDATE ${cp} SET block = $2, hash = $3, updated_at = now() WHERE service = $1 AND block = $4 AND hash = $5`,
              [service, block.number, block.hash, previous.block, previous.hash],
            )
          : await c.query(`INSERT INTO ${cp} (service, block, hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
              service,
              block.number,
              block.hash,
            ]);
        if (moved.rowCount !== 1) return false;
        for (const log of block.logs) {
          await c.query(
            `INSERT INTO zd_listener_events (service, block, log_index, tx_hash, block_hash, address, instance, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [
              service,
              block.number,
              log.logIndex,
              log.txHash,
              block.hash,
              log.address,
              identity.instance,
              identity.version,
            ],
          );
        }
        await c.query(
          `INSERT INTO zd_listener_blocks (service, block, hash, parent_hash, events, instance, version)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [service, block.number, block.hash, block.parentHash, block.logs.length, identity.instance, identity.version],
        );
        await hold?.();
        return true;
      });
    },

    /**
     * Undoes every block above `ancestor` (null: above nothing, so all of them) after a reorg: their
     * events and block rows go, and the checkpoint moves back to the ancestor. One transaction.
     */
    async rewind({ from, ancestor, identity }) {
      await inTransaction(async (c) => {
        const above = ancestor ? ancestor.block : -1;
        await c.query('DELETE FROM zd_listener_events WHERE service = $1 AND block > $2', [service, above]);
        await c.query('DELETE FROM zd_listener_blocks WHERE service = $1 AND block > $2', [service, above]);
        if (ancestor) {
          await c.query(`UPDATE ${cp} SET block = $2, hash = $3, updated_at = now() WHERE service = $1`, [
            service,
            ancestor.block,
            ancestor.hash,
          ]);
        } else {
          await c.query(`DELETE FROM ${cp} WHERE service = $1`, [service]);
        }
        await c.query(
          `INSERT INTO zd_listener_reorgs (service, from_block, from_hash, to_block, instance, version)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [service, from.block, from.hash, ancestor?.block ?? null, identity.instance, identity.version],
        );
      });
    },

    async close() {
      await pool.end().catch(() => undefined);
    },
  };
}
