/*-------------------------------------------------------------------------
 *
 * tool_http.c
 *	  The http tool, with libcurl.
 *
 * Fields: method (GET), url or endpoint, headers, args, timeout (seconds).
 * For GET, HEAD and DELETE the args become query parameters; for other
 * methods they are the JSON body (Content-Type: application/json, unless
 * the headers say otherwise).  The result is {status_code, headers, data},
 * data being the body parsed as JSON when it is JSON, else its text (null
 * when empty).  A 5xx response is an error, with that result, so the
 * step's retry policy applies; a response of any other status is a result.
 * Redirects are not followed.  libcurl is initialised once, in the
 * native runner, which runs a slot's http tasks one after another; each
 * task has a handle of its own, so that nothing (cookies, connections) is
 * carried from one task to the next.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <strings.h>

#include <curl/curl.h>

#include "json.h"
#include "tool.h"

/* what came back */
typedef struct Response
{
	PQExpBufferData body;
	PQExpBufferData headers;	/* "\"name\": \"value\"", comma-separated */
	int			nheaders;
} Response;

/* on_body is libcurl's write callback: it keeps the body */
static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	Response   *r = arg;

	appendBinaryPQExpBuffer(&r->body, data, size * n);
	return size * n;
}

/* on_header is libcurl's header callback: it keeps the last block's headers */
static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	Response   *r = arg;
	size_t		len = size * n;
	char	   *colon = memchr(data, ':', len);
	size_t		vstart;
	size_t		vend = len;

	/* a status line starts a new block (after 1xx): forget the old one */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
	{
		resetPQExpBuffer(&r->headers);
		r->nheaders = 0;
		return len;
	}
	if (colon == NULL)
		return len;
	vstart = (size_t) (colon - data) + 1;
	while (vstart < len && (data[vstart] == ' ' || data[vstart] == '\t'))
		vstart++;
	while (vend > vstart && (data[vend - 1] == '\r' || data[vend - 1] == '\n' ||
							 data[vend - 1] == ' '))
		vend--;
	if (r->nheaders++ > 0)
		appendPQExpBufferStr(&r->headers, ", ");
	json_append_string(&r->headers, data, (size_t) (colon - data));
	appendPQExpBufferStr(&r->headers, ": ");
	json_append_string(&r->headers, data + vstart, vend - vstart);
	return len;
}

/* has_header says whether the task gives a header of that name */
static bool
has_header(const Task *t, const char *name)
{
	int			i;

	for (i = 0; i < t->headers.n; i++)
		if (strcasecmp(t->headers.keys[i], name) == 0)
			return true;
	return false;
}

/* tool_http runs an http task, for at most timeout seconds */
void
tool_http(const RunnerContext *cx, const Task *t, double timeout, PQExpBuffer out)
{
	static bool curl_ready = false;
	CURL	   *h;
	CURLcode	rc;
	struct curl_slist *hdrs = NULL;
	Response	resp;
	PQExpBufferData url;
	char		errbuf[CURL_ERROR_SIZE] = "";
	long		status = 0;
	bool		query = strcmp(t->method, "GET") == 0 || strcmp(t->method, "HEAD") == 0 ||
		strcmp(t->method, "DELETE") == 0;
	int			i;

	if (t->url == NULL || *t->url == '\0')
	{
		tool_failure(out, "an http task needs a url (or endpoint)", NULL);
		return;
	}
	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		{
			tool_failure(out, "could not initialise libcurl", NULL);
			return;
		}
		curl_ready = true;
	}
	if ((h = curl_easy_init()) == NULL)
	{
		tool_failure(out, "could not initialise libcurl", NULL);
		return;
	}

	initPQExpBuffer(&url);
	appendPQExpBufferStr(&url, t->url);
	if (query)
		for (i = 0; i < t->query.n; i++)
		{
			char	   *k = curl_easy_escape(h, t->query.keys[i], 0);
			char	   *v = curl_easy_escape(h, t->query.values[i], 0);

			appendPQExpBuffer(&url, "%s%s=%s",
							  i == 0 && strchr(t->url, '?') == NULL ? "?" : "&", k, v);
			curl_free(k);
			curl_free(v);
		}
	for (i = 0; i < t->headers.n; i++)
	{
		char	   *line = psprintf("%s: %s", t->headers.keys[i], t->headers.values[i]);

		hdrs = curl_slist_append(hdrs, line);
		pg_free(line);
	}
	if (!query && t->args != NULL && !has_header(t, "Content-Type"))
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");

	initPQExpBuffer(&resp.body);
	initPQExpBuffer(&resp.headers);
	resp.nheaders = 0;
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, t->method);
	if (strcmp(t->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (!query && t->args != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, t->args);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "noetl-worker/" NOETL_VERSION);
	/*
	 * The worker kills the runner at the timeout: curl gives up a little
	 * earlier (by a tenth of it, at most a second), so that the task
	 * fails with curl's message and the runner stays.
	 */
	if (timeout > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
						 (long) Max((timeout - Min(1.0, timeout / 10)) * 1000, 1));

	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
	{
		char	   *msg = psprintf("%s %s: %s", t->method, url.data,
								   *errbuf ? errbuf : curl_easy_strerror(rc));

		tool_failure(out, msg, NULL);
		pg_free(msg);
	}
	else
	{
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		appendPQExpBuffer(out, "{\"ok\": %s, ", status >= 500 ? "false" : "true");
		if (status >= 500)
		{
			char	   *msg = psprintf("HTTP %ld from %s %s", status, t->method, url.data);

			appendPQExpBufferStr(out, "\"error\": ");
			json_append_string(out, msg, strlen(msg));
			appendPQExpBufferStr(out, ", ");
			pg_free(msg);
		}
		appendPQExpBuffer(out, "\"result\": {\"status_code\": %ld, \"headers\": {%s}, \"data\": ",
						  status, resp.headers.data);
		if (resp.body.len == 0)
			appendPQExpBufferStr(out, "null");
		else if (json_is_valid(resp.body.data, resp.body.len))
			appendBinaryPQExpBuffer(out, resp.body.data, resp.body.len);
		else
			json_append_string(out, resp.body.data, resp.body.len);
		appendPQExpBufferStr(out, "}}");
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	termPQExpBuffer(&url);
	termPQExpBuffer(&resp.body);
	termPQExpBuffer(&resp.headers);
}
