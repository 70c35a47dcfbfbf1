/*-------------------------------------------------------------------------
 *
 * secret_marker.c
 *	  The markers token() and secret() render in a task's fields, and
 *	  their check.
 *
 * A secret never passes through the broker: rendering a task's fields,
 * token(NAME) and secret(NAME) give a marker,
 *
 *		@@noetl-secret:v1:KIND:HEXNAME:MAC@@
 *
 * where KIND is "token" or "secret", HEXNAME the credential's name in hex
 * (a name may hold any character but a control character, the marker only
 * [0-9a-f:]), and MAC the hex HMAC-SHA256, under noetl.credential_key, of
 *
 *		noetl-secret-marker-v1:EXECUTION_ID:HEX(NODE_ID):KIND:HEXNAME
 *
 * for the task's execution and node_id (its step, "step[i]" for a loop's
 * iteration).  The worker that leases the task hands its markers to
 * noetl.task_secrets, which checks each one (secret_marker_check) against
 * the queue row the lease names and returns the secrets.  A marker
 * binds its credential to the task it was rendered for: one copied from
 * another task or execution, or written into a workload or a step result
 * (any client can put any text there), does not check, and without the key
 * nobody can make one.  The node_id and the name are hex in the MAC's
 * input so that no two (node_id, name) pairs give the same input, and the
 * input's prefix keeps it apart from any other use of the key (pgcrypto's
 * encryption derives its keys from it with its own S2K).  The
 * marker is ASCII with no character that JSON escapes or a conninfo or
 * SQL text would change, so that it reaches the worker as rendered.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "guc.h"
#include "secret_marker.h"

#define MARKER_PREFIX "@@noetl-secret:v1:"
#define MARKER_SUFFIX "@@"
#define MAC_HEX (PG_SHA256_DIGEST_LENGTH * 2)

SecretScope secret_scope = {0, NULL};

/* append_hex appends len bytes of p as lower-case hex */
static void
append_hex(StringInfo out, const char *p, int len)
{
	static const char digits[] = "0123456789abcdef";
	int			i;

	enlargeStringInfo(out, len * 2);
	for (i = 0; i < len; i++)
	{
		out->data[out->len++] = digits[((unsigned char) p[i]) >> 4];
		out->data[out->len++] = digits[((unsigned char) p[i]) & 0x0f];
	}
	out->data[out->len] = '\0';
}

/*
 * marker_mac writes into mac (MAC_HEX + 1 bytes) the hex HMAC of a marker
 * for the task (execution_id, node_id), kind and name (hexname: the name
 * in hex).  The key must be set.
 */
static void
marker_mac(int64 execution_id, const char *node_id, const char *kind,
		   const char *hexname, int hexlen, char *mac)
{
	StringInfoData msg;
	StringInfoData hex;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_hmac_ctx *ctx;

	initStringInfo(&msg);
	appendStringInfo(&msg, "noetl-secret-marker-v1:" INT64_FORMAT ":", execution_id);
	append_hex(&msg, node_id, strlen(node_id));
	appendStringInfo(&msg, ":%s:", kind);
	appendBinaryStringInfo(&msg, hexname, hexlen);
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_hmac_init(ctx, (const uint8 *) noetl_credential_key, strlen(noetl_credential_key)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) msg.data, msg.len) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		const char *why = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the HMAC of a secret marker: %s", why)));
	}
	pg_hmac_free(ctx);
	initStringInfo(&hex);
	append_hex(&hex, (const char *) digest, sizeof(digest));
	memcpy(mac, hex.data, MAC_HEX + 1);
	pfree(hex.data);
	pfree(msg.data);
}

/* secret_key_set says whether noetl.credential_key is set */
bool
secret_key_set(void)
{
	return noetl_credential_key != NULL && noetl_credential_key[0] != '\0';
}

/*
 * secret_name_ok says whether name (len bytes) can name a credential: 1 to
 * 200 characters without control characters, as noetl.credential_set
 * takes them.
 */
bool
secret_name_ok(const char *name, int len)
{
	int			i;
	int			chars;

	if (len < 1)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char) name[i] < 0x20 || name[i] == 0x7f)
			return false;
	chars = pg_mbstrlen_with_len(name, len);
	return chars >= 1 && chars <= SECRET_NAME_MAX;
}

/*
 * secret_marker returns the marker of kind ("token" or "secret") for the
 * credential name (len bytes) in the task (execution_id, node_id).  The
 * caller has checked the key and the name.
 */
char *
secret_marker(int64 execution_id, const char *node_id, const char *kind,
			  const char *name, int len)
{
	StringInfoData out;
	char		mac[MAC_HEX + 1];
	int			start;

	Assert(secret_key_set());
	initStringInfo(&out);
	appendStringInfo(&out, "%s%s:", MARKER_PREFIX, kind);
	start = out.len;
	append_hex(&out, name, len);
	marker_mac(execution_id, node_id, kind, out.data + start, out.len - start, mac);
	appendStringInfo(&out, ":%s%s", mac, MARKER_SUFFIX);
	return out.data;
}

/* hex_value is the value of a lower-case hex digit, or -1 */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

PG_FUNCTION_INFO_V1(noetl_secret_marker_check);

/*
 * Datum noetl_secret_marker_check(execution_id bigint, node_id text,
 *		marker text, OUT kind text, OUT name text, OUT valid boolean)
 *
 * Takes a marker apart and checks its MAC for the task (execution_id,
 * node_id): kind and name are NULL when the marker is malformed (then
 * valid is false), valid says whether its MAC is the one for this task.
 * The MACs are compared in constant time.  Not granted to anyone:
 * noetl.task_secrets calls it.
 */
Datum
noetl_secret_marker_check(PG_FUNCTION_ARGS)
{
	int64		execution_id = PG_GETARG_INT64(0);
	char	   *node_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	text	   *mt = PG_GETARG_TEXT_PP(2);
	const char *m = VARDATA_ANY(mt);
	int			len = VARSIZE_ANY_EXHDR(mt);
	int			plen = strlen(MARKER_PREFIX);
	int			slen = strlen(MARKER_SUFFIX);
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {true, true, false};
	const char *kind = NULL;
	const char *p;
	const char *end;
	const char *hexname;
	int			hexlen;
	char	   *name = NULL;
	char		mac[MAC_HEX + 1];
	bool		valid = false;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (!secret_key_set())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("noetl.credential_key is not set"),
				 errdetail("Secret markers are checked with the key in the setting noetl.credential_key.")));

	/* PREFIX KIND ":" HEXNAME ":" MAC SUFFIX */
	if (len <= plen + slen || memcmp(m, MARKER_PREFIX, plen) != 0 ||
		memcmp(m + len - slen, MARKER_SUFFIX, slen) != 0)
		goto done;
	p = m + plen;
	end = m + len - slen;
	if (end - p > 6 && memcmp(p, "token:", 6) == 0)
		kind = "token";
	else if (end - p > 7 && memcmp(p, "secret:", 7) == 0)
		kind = "secret";
	else
		goto done;
	p += strlen(kind) + 1;
	hexname = p;
	while (p < end && hex_value(*p) >= 0)
		p++;
	hexlen = p - hexname;
	if (hexlen < 2 || hexlen % 2 != 0 || hexlen > SECRET_NAME_MAX * MAX_MULTIBYTE_CHAR_LEN * 2 ||
		p >= end || *p != ':' || end - (p + 1) != MAC_HEX)
		goto done;
	for (i = 0; i < MAC_HEX; i++)
		if (hex_value(p[1 + i]) < 0)
			goto done;
	name = palloc(hexlen / 2 + 1);
	for (i = 0; i < hexlen / 2; i++)
		name[i] = (char) (hex_value(hexname[2 * i]) << 4 | hex_value(hexname[2 * i + 1]));
	name[hexlen / 2] = '\0';
	if (!pg_verifymbstr(name, hexlen / 2, true) || !secret_name_ok(name, hexlen / 2))
	{
		kind = NULL;
		name = NULL;
		goto done;
	}
	marker_mac(execution_id, node_id, kind, hexname, hexlen, mac);
	valid = timingsafe_bcmp(mac, p + 1, MAC_HEX) == 0;
	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(name);
	nulls[0] = nulls[1] = false;

done:
	values[2] = BoolGetDatum(valid);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
