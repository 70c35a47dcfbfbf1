/*-------------------------------------------------------------------------
 *
 * state.c
 *	  Reads and writes of the broker's state tables.
 *
 * The broker's statements off the hot path (rows.c has the hot path), as
 * SQL text prepared once per backend (SPI_prepare + SPI_keepplan) and
 * executed with parameters.  The statements are schema-qualified and run
 * inside the triggers, as the table owner with the search_path pinned
 * (broker.c).  Callers must be connected to SPI; values returned are
 * copied into the caller's memory context.
 *
 * Access paths, all by key: noetl.execution by execution_id (locked FOR NO
 * KEY UPDATE to serialise an execution's events), noetl.queue by
 * (execution_id, node_id), noetl.step_state by (execution_id, step).
 * Nothing here scans noetl.event.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "broker.h"
#include "stmt.h"


static NoetlStmt s_lock_exec = {
	"SELECT catalog_id, status, pending, workload, parent_execution_id"
	"  FROM noetl.execution WHERE execution_id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
	1, {INT8OID}
};
static NoetlStmt s_insert_exec = {
	"INSERT INTO noetl.execution (execution_id, catalog_id, status, workload, pending)"
	" VALUES ($1, $2, 'running', $3, 0)",
	3, {INT8OID, INT8OID, JSONBOID}
};
static NoetlStmt s_cancel_queue = {
	"UPDATE noetl.queue SET status = 'cancelled', lease_until = NULL,"
	"       updated_at = pg_catalog.clock_timestamp()"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1"
	"   AND status OPERATOR(pg_catalog.=) ANY ('{queued,leased,retry}'::pg_catalog.text[])",
	1, {INT8OID}
};
static NoetlStmt s_insert_step = {
	"INSERT INTO noetl.step_state (execution_id, step, status, args)"
	" VALUES ($1, $2, $3, $4) ON CONFLICT (execution_id, step) DO NOTHING RETURNING 1",
	4, {INT8OID, TEXTOID, TEXTOID, JSONBOID}
};
static NoetlStmt s_set_step = {
	"UPDATE noetl.step_state SET status = $3, result = $4, ended_at = pg_catalog.clock_timestamp()"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2",
	4, {INT8OID, TEXTOID, TEXTOID, JSONBOID}
};
static NoetlStmt s_get_step = {
	"SELECT status, args FROM noetl.step_state"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2",
	2, {INT8OID, TEXTOID}
};
static NoetlStmt s_result_queue = {
	"SELECT result FROM noetl.queue"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1 AND node_id OPERATOR(pg_catalog.=) $2"
	"   AND status OPERATOR(pg_catalog.=) 'done'",
	2, {INT8OID, TEXTOID}
};
static NoetlStmt s_result_step = {
	"SELECT result FROM noetl.step_state"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1 AND step OPERATOR(pg_catalog.=) $2"
	"   AND status OPERATOR(pg_catalog.=) 'completed'",
	2, {INT8OID, TEXTOID}
};
static NoetlStmt s_release_task = {
	"UPDATE noetl.queue SET status = 'queued',"
	"       attempts = GREATEST(attempts OPERATOR(pg_catalog.-) 1, 0),"
	"       worker_id = NULL, lease_until = NULL, available_at = pg_catalog.now(),"
	"       updated_at = pg_catalog.clock_timestamp()"
	" WHERE queue_id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'leased'",
	1, {INT8OID}
};
/* the execution row, when an evaluation changed it */
static NoetlStmt s_update_exec = {
	"UPDATE noetl.execution SET status = $2, pending = $3,"
	"       result = COALESCE($4, result), error = COALESCE($5, error),"
	"       ended_at = CASE WHEN $6 THEN pg_catalog.clock_timestamp() ELSE ended_at END,"
	"       updated_at = pg_catalog.clock_timestamp()"
	" WHERE execution_id OPERATOR(pg_catalog.=) $1",
	6, {INT8OID, TEXTOID, INT4OID, JSONBOID, TEXTOID, BOOLOID}
};

static NoetlStmt s_resolve_catalog = {
	"SELECT catalog_id FROM noetl.catalog"
	" WHERE path OPERATOR(pg_catalog.=) $1 AND ($2 IS NULL OR version OPERATOR(pg_catalog.=) $2)"
	" ORDER BY version DESC LIMIT 1",
	2, {TEXTOID, INT4OID}
};
static NoetlStmt s_catalog = {
	"SELECT path, version, payload FROM noetl.catalog WHERE catalog_id OPERATOR(pg_catalog.=) $1",
	1, {INT8OID}
};

static Datum
text_or_null(const char *s, char *null)
{
	if (s == NULL)
	{
		*null = 'n';
		return (Datum) 0;
	}
	*null = ' ';
	return CStringGetTextDatum(s);
}

static Datum
jsonb_or_null(Jsonb *j, char *null)
{
	if (j == NULL)
	{
		*null = 'n';
		return (Datum) 0;
	}
	*null = ' ';
	return JsonbPGetDatum(j);
}

/* column i (1-based) of the first result row, copied, or NULL */
static Jsonb *
get_jsonb(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	if (isnull)
		return NULL;
	return DatumGetJsonbPCopy(d);
}

static char *
get_text(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	if (isnull)
		return NULL;
	return TextDatumGetCString(d);
}

static int64
get_int8(int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);

	return *isnull ? 0 : DatumGetInt64(d);
}

static int32
get_int4(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

static void
fill_exec(ExecState *st)
{
	bool		isnull;
	char	   *status;

	st->catalog_id = get_int8(1, &isnull);
	status = get_text(2);
	strlcpy(st->status, status, sizeof(st->status));
	st->pending = get_int4(3);
	st->workload = get_jsonb(4);
	st->parent_execution_id = get_int8(5, &isnull);
	st->has_parent = !isnull;
}

/*
 * state_lock_execution locks an execution's row and reads its state;
 * false if it does not exist.
 */
bool
state_lock_execution(int64 execution_id, ExecState *st)
{
	Datum		v[1];

	v[0] = Int64GetDatum(execution_id);
	if (noetl_spi_exec(&s_lock_exec, v, NULL, SPI_OK_SELECT) == 0)
		return false;
	st->execution_id = execution_id;
	fill_exec(st);
	return true;
}

void
state_insert_execution(int64 execution_id, int64 catalog_id, Jsonb *workload)
{
	Datum		v[3];

	v[0] = Int64GetDatum(execution_id);
	v[1] = Int64GetDatum(catalog_id);
	v[2] = JsonbPGetDatum(workload);
	noetl_spi_exec(&s_insert_exec, v, NULL, SPI_OK_INSERT);
}

/* state_cancel_queue cancels an execution's unfinished tasks; returns how many */
int
state_cancel_queue(int64 execution_id)
{
	Datum		v[1];

	v[0] = Int64GetDatum(execution_id);
	return (int) noetl_spi_exec(&s_cancel_queue, v, NULL, SPI_OK_UPDATE);
}

/*
 * state_insert_step records a step of an execution; false if it was
 * already recorded (a step runs at most once).
 */
bool
state_insert_step(int64 execution_id, const char *step, const char *status, Jsonb *args)
{
	Datum		v[4];
	char		n[5] = "    ";

	v[0] = Int64GetDatum(execution_id);
	v[1] = CStringGetTextDatum(step);
	v[2] = CStringGetTextDatum(status);
	v[3] = jsonb_or_null(args, &n[3]);
	return noetl_spi_exec(&s_insert_step, v, n, SPI_OK_INSERT_RETURNING) > 0;
}

void
state_set_step(int64 execution_id, const char *step, const char *status, Jsonb *result)
{
	Datum		v[4];
	char		n[5] = "    ";

	v[0] = Int64GetDatum(execution_id);
	v[1] = CStringGetTextDatum(step);
	v[2] = CStringGetTextDatum(status);
	v[3] = jsonb_or_null(result, &n[3]);
	noetl_spi_exec(&s_set_step, v, n, SPI_OK_UPDATE);
}

/* state_get_step reads a step's status (into status[16]) and args */
bool
state_get_step(int64 execution_id, const char *step, char *status, Jsonb **args)
{
	Datum		v[2];
	char	   *s;

	v[0] = Int64GetDatum(execution_id);
	v[1] = CStringGetTextDatum(step);
	if (noetl_spi_exec(&s_get_step, v, NULL, SPI_OK_SELECT) == 0)
		return false;
	s = get_text(1);
	strlcpy(status, s, 16);
	*args = get_jsonb(2);
	return true;
}

/*
 * state_step_result returns the result of a finished step: from its queue
 * row for a task, from step_state for a control step.
 */
Jsonb *
state_step_result(int64 execution_id, const char *step, bool actionable, bool *found)
{
	Datum		v[2];

	v[0] = Int64GetDatum(execution_id);
	v[1] = CStringGetTextDatum(step);
	*found = noetl_spi_exec(actionable ? &s_result_queue : &s_result_step, v, NULL, SPI_OK_SELECT) > 0;
	return *found ? get_jsonb(1) : NULL;
}

/* state_release_task puts a leased task back in the queue, uncounted */
void
state_release_task(int64 queue_id)
{
	Datum		v[1];

	v[0] = Int64GetDatum(queue_id);
	noetl_spi_exec(&s_release_task, v, NULL, SPI_OK_UPDATE);
}

/*
 * state_update_execution writes an execution's status, pending count and,
 * when given, its result, error and end.
 */
void
state_update_execution(int64 execution_id, const char *status, int32 pending,
					   Jsonb *result, const char *error, bool ended)
{
	Datum		v[6];
	char		n[7] = "      ";

	v[0] = Int64GetDatum(execution_id);
	v[1] = CStringGetTextDatum(status);
	v[2] = Int32GetDatum(pending);
	v[3] = jsonb_or_null(result, &n[3]);
	v[4] = text_or_null(error, &n[4]);
	v[5] = BoolGetDatum(ended);
	noetl_spi_exec(&s_update_exec, v, n, SPI_OK_UPDATE);
}

/*
 * state_resolve_catalog finds the catalog_id of a path (and version, or
 * the latest); 0 if there is none.
 */
int64
state_resolve_catalog(const char *path, int32 version, bool has_version)
{
	Datum		v[2];
	char		n[3] = "  ";
	bool		isnull;

	v[0] = CStringGetTextDatum(path);
	v[1] = Int32GetDatum(version);
	if (!has_version)
		n[1] = 'n';
	if (noetl_spi_exec(&s_resolve_catalog, v, n, SPI_OK_SELECT) == 0)
		return 0;
	return get_int8(1, &isnull);
}

/*
 * state_catalog_payload reads a catalog entry; NULL if it does not exist.
 */
Jsonb *
state_catalog_payload(int64 catalog_id, char **path, int32 *version)
{
	Datum		v[1];

	v[0] = Int64GetDatum(catalog_id);
	if (noetl_spi_exec(&s_catalog, v, NULL, SPI_OK_SELECT) == 0)
		return NULL;
	*path = get_text(1);
	*version = get_int4(2);
	return get_jsonb(3);
}
