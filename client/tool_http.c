/*-------------------------------------------------------------------------
 *
 * tool_http.c
 *	  The http tool, with libcurl.
 *
 * Fields: method (GET), url or endpoint, headers, args, timeout (seconds),
 * follow_redirects (false).  For GET, HEAD and DELETE the args become
 * query parameters; for other methods they are the JSON body
 * (Content-Type: application/json, unless the headers say otherwise).
 *
 * The result is the response as NoETL's http tool shapes it
 * (noetl/plugin/tools/http/response.py, process_response):
 * {status_code, headers, url, elapsed, data}, the headers under their
 * lower-case names with the values of a repeated one joined by ", " (what
 * dict() of httpx's Headers gives), url the one that answered, elapsed
 * the seconds it took, data the body parsed as JSON when the Content-Type
 * says application/json and it parses, else its text.  As in NoETL, a
 * response whose status is not 2xx is an error ("HTTP 404: Not Found"),
 * with that result, so that the step's retry policy and its next
 * conditions see the status.
 *
 * Redirects are not followed, as NoETL's httpx.Client does not: a 3xx is
 * an error like any other non-2xx.  With follow_redirects: true (httpx's
 * own option) they are followed as httpx follows them: at most
 * MAX_REDIRECTS, the method turned into GET (and the body dropped) on a
 * 303, a 302, and a 301 to a POST, kept on 307 and 308; Authorization is
 * not sent on once a redirect leaves the origin (but for http to https on
 * the same host), nor Cookie after any redirect.  Only http and https are spoken, redirected
 * to or not.  A response body larger than MAX_BODY, or headers beyond
 * MAX_HEADER_BYTES, fail the task.
 *
 * libcurl is initialised once, in the native runner, which runs a slot's
 * http tasks one after another; each task has a handle of its own, so
 * that nothing (cookies, connections) is carried from one task to the
 * next.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <ctype.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "json.h"
#include "tool.h"

/* httpx's DEFAULT_MAX_REDIRECTS */
#define MAX_REDIRECTS 20
/* the largest body kept: the broker's default noetl.max_result_size */
#define MAX_BODY ((size_t) 64 * 1024 * 1024)
/* the most header bytes, and lines, of one response kept */
#define MAX_HEADER_BYTES ((size_t) 1024 * 1024)
#define MAX_HEADER_LINES 10000

/* what came back */
typedef struct Response
{
	PQExpBufferData body;
	bool		body_too_large;
	char	   *reason;			/* of the status line, or NULL */
	int			nheaders;
	int			cap;
	char	  **names;			/* lower-case, each once */
	PQExpBufferData *values;	/* the values of a repeated name, joined by ", " */
	size_t		header_bytes;
	int			header_lines;
	bool		headers_too_large;
} Response;

/* response_init starts an empty response */
static void
response_init(Response *r)
{
	memset(r, 0, sizeof(Response));
	initPQExpBuffer(&r->body);
}

/* forget_headers drops the headers kept (a new block of them starts) */
static void
forget_headers(Response *r)
{
	int			i;

	for (i = 0; i < r->nheaders; i++)
	{
		pg_free(r->names[i]);
		termPQExpBuffer(&r->values[i]);
	}
	r->nheaders = 0;
	r->header_bytes = 0;
	r->header_lines = 0;
	pg_free(r->reason);
	r->reason = NULL;
}

/* response_reset empties a response, for the next hop of a redirect */
static void
response_reset(Response *r)
{
	forget_headers(r);
	resetPQExpBuffer(&r->body);
}

/* response_free frees what a response holds */
static void
response_free(Response *r)
{
	forget_headers(r);
	pg_free(r->names);
	pg_free(r->values);
	termPQExpBuffer(&r->body);
}

/* on_body is libcurl's write callback: it keeps the body, up to MAX_BODY */
static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	Response   *r = arg;
	size_t		len = size * n;

	if (r->body.len + len > MAX_BODY)
	{
		r->body_too_large = true;
		return 0;				/* libcurl stops: CURLE_WRITE_ERROR */
	}
	appendBinaryPQExpBuffer(&r->body, data, len);
	return len;
}

/* add_header keeps a header, its name in lower case, joined to an earlier one's */
static void
add_header(Response *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
	char	   *lower = pg_malloc(nlen + 1);
	size_t		k;
	int			i;

	for (k = 0; k < nlen; k++)
		lower[k] = (char) tolower((unsigned char) name[k]);
	lower[nlen] = '\0';
	for (i = 0; i < r->nheaders; i++)
		if (strcmp(r->names[i], lower) == 0)
		{
			appendPQExpBufferStr(&r->values[i], ", ");
			appendBinaryPQExpBuffer(&r->values[i], value, vlen);
			pg_free(lower);
			return;
		}
	if (r->nheaders == r->cap)
	{
		r->cap = r->cap == 0 ? 16 : r->cap * 2;
		r->names = pg_realloc(r->names, sizeof(char *) * r->cap);
		r->values = pg_realloc(r->values, sizeof(PQExpBufferData) * r->cap);
	}
	r->names[r->nheaders] = lower;
	initPQExpBuffer(&r->values[r->nheaders]);
	appendBinaryPQExpBuffer(&r->values[r->nheaders], value, vlen);
	r->nheaders++;
}

/*
 * on_header is libcurl's header callback: it keeps the last block's
 * headers (a status line starts a block: after a 1xx, the final one's),
 * and the reason phrase of its status line
 */
static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	Response   *r = arg;
	size_t		len = size * n;
	char	   *colon = memchr(data, ':', len);
	size_t		vstart;
	size_t		vend = len;

	while (vend > 0 && (data[vend - 1] == '\r' || data[vend - 1] == '\n'))
		vend--;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
	{
		/* "HTTP/1.1 404 Not Found": the reason follows the second space */
		char	   *sp = memchr(data, ' ', vend);
		char	   *sp2 = sp ? memchr(sp + 1, ' ', vend - (sp + 1 - data)) : NULL;

		forget_headers(r);
		if (sp2 != NULL)
			r->reason = pnstrdup(sp2 + 1, vend - (sp2 + 1 - data));
		return len;
	}
	r->header_bytes += len;
	if (r->header_bytes > MAX_HEADER_BYTES || ++r->header_lines > MAX_HEADER_LINES)
	{
		r->headers_too_large = true;
		return 0;				/* libcurl stops */
	}
	if (colon == NULL)
		return len;
	vstart = (size_t) (colon - data) + 1;
	while (vstart < vend && (data[vstart] == ' ' || data[vstart] == '\t'))
		vstart++;
	while (vend > vstart && (data[vend - 1] == ' ' || data[vend - 1] == '\t'))
		vend--;
	add_header(r, data, (size_t) (colon - data), data + vstart, vend - vstart);
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

/* is_token says whether s is an HTTP token (a method, a header name): RFC 9110's tchar */
static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char) *s) && strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			return false;
	return true;
}

/*
 * bad_request says what makes a task's request one that cannot be sent
 * as written (a line break in a header would start a header, or a
 * request, of its own), or NULL; httpx refuses the same
 */
static char *
bad_request(const Task *t)
{
	int			i;

	if (t->method == NULL || !is_token(t->method))
		return psprintf("the http method \"%s\" is not a method name", t->method ? t->method : "");
	for (i = 0; i < t->headers.n; i++)
	{
		const unsigned char *v = (const unsigned char *) t->headers.values[i];

		if (t->headers.keys[i] == NULL || v == NULL)
			return pg_strdup("an http header without a name or a value");
		if (!is_token(t->headers.keys[i]))
			return psprintf("the http header name \"%s\" is not a header name", t->headers.keys[i]);
		for (; *v; v++)
			if ((*v < 0x20 && *v != '\t') || *v == 0x7f)
				return psprintf("the value of http header \"%s\" has a control character (a line break?)",
								t->headers.keys[i]);
	}
	return NULL;
}

/* is_json_type says whether a Content-Type says application/json, as NoETL reads it */
static bool
is_json_type(const Response *r)
{
	int			i;

	for (i = 0; i < r->nheaders; i++)
		if (strcmp(r->names[i], "content-type") == 0)
		{
			char	   *lower = pg_strdup(r->values[i].data);
			bool		json;
			char	   *p;

			for (p = lower; *p; p++)
				*p = (char) tolower((unsigned char) *p);
			json = strstr(lower, "application/json") != NULL;
			pg_free(lower);
			return json;
		}
	return false;
}

/*
 * origin_of is a URL's scheme, host and port, as libcurl reads them (the
 * port its scheme's by default), for comparing origins; NULL if it cannot
 * be read
 */
static char *
origin_of(const char *url)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *port = NULL;
	char	   *origin = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		origin = psprintf("%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return origin;
}

/* redirect_method is the method httpx sends after a redirect of that status */
static const char *
redirect_method(const char *method, long status)
{
	if ((status == 303 || status == 302) && strcmp(method, "HEAD") != 0)
		return "GET";
	if (status == 301 && strcmp(method, "POST") == 0)
		return "GET";
	return method;
}

/* now_seconds is the time on a monotonic clock */
static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * keeps_auth says whether a redirect from one URL to another keeps the
 * Authorization header, as httpx's _redirect_headers decides: the same
 * scheme, host and port, or http to https on the same host and the
 * default ports
 */
static bool
keeps_auth(const char *from, const char *to)
{
	char	   *a = origin_of(from);
	char	   *b = origin_of(to);
	bool		keep = false;

	if (a != NULL && b != NULL)
	{
		if (strcmp(a, b) == 0)
			keep = true;
		else if (strncmp(a, "http://", 7) == 0 && strncmp(b, "https://", 8) == 0)
		{
			size_t		la = strlen(a);
			size_t		lb = strlen(b);

			/* "http://HOST:80" and "https://HOST:443" */
			keep = la > 10 && lb > 12 && strcmp(a + la - 3, ":80") == 0 &&
				strcmp(b + lb - 4, ":443") == 0 && la - 10 == lb - 12 &&
				strncmp(a + 7, b + 8, la - 10) == 0;
		}
	}
	pg_free(a);
	pg_free(b);
	return keep;
}

/*
 * request sends one request of a task (one hop of its redirects) on h:
 * the method, the URL, the task's headers (without Authorization when
 * auth is false, without Cookie after a redirect), the body when there
 * is one, for at most timeout_ms.
 */
static CURLcode
request(CURL *h, const Task *t, const char *method, const char *url, const char *body,
		bool auth, bool redirected, long timeout_ms, Response *resp, char *errbuf)
{
	struct curl_slist *hdrs = NULL;
	CURLcode	rc;
	int			i;

	for (i = 0; i < t->headers.n; i++)
	{
		char	   *line;

		if ((!auth && strcasecmp(t->headers.keys[i], "Authorization") == 0) ||
			(redirected && strcasecmp(t->headers.keys[i], "Cookie") == 0))
			continue;
		line = psprintf("%s: %s", t->headers.keys[i], t->headers.values[i]);
		hdrs = curl_slist_append(hdrs, line);
		pg_free(line);
	}
	if (body != NULL && !has_header(t, "Content-Type"))
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "noetl-worker/" NOETL_VERSION);
	if (timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	errbuf[0] = '\0';
	rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	return rc;
}

/* append_result appends the result: the response as NoETL shapes it */
static void
append_result(PQExpBuffer out, CURL *h, long status, double elapsed, Response *resp)
{
	char	   *url = NULL;
	int			i;

	curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url);
	appendPQExpBuffer(out, "\"result\": {\"status_code\": %ld, \"headers\": {", status);
	for (i = 0; i < resp->nheaders; i++)
	{
		if (i > 0)
			appendPQExpBufferStr(out, ", ");
		json_append_string(out, resp->names[i], strlen(resp->names[i]));
		appendPQExpBufferStr(out, ": ");
		json_append_string(out, resp->values[i].data, resp->values[i].len);
	}
	appendPQExpBufferStr(out, "}, \"url\": ");
	if (url != NULL)
		json_append_string(out, url, strlen(url));
	else
		appendPQExpBufferStr(out, "null");
	appendPQExpBuffer(out, ", \"elapsed\": %.6f, \"data\": ", elapsed);
	if (is_json_type(resp) && json_is_valid(resp->body.data, resp->body.len))
		appendBinaryPQExpBuffer(out, resp->body.data, resp->body.len);
	else
		json_append_string(out, resp->body.data, resp->body.len);
	appendPQExpBufferChar(out, '}');
}

/* tool_http runs an http task, for at most timeout seconds */
void
tool_http(const RunnerContext *cx, const Task *t, double timeout, PQExpBuffer out)
{
	static bool curl_ready = false;
	CURL	   *h;
	CURLcode	rc;
	Response	resp;
	PQExpBufferData url;
	char		errbuf[CURL_ERROR_SIZE] = "";
	long		status = 0;
	bool		query = strcmp(t->method, "GET") == 0 || strcmp(t->method, "HEAD") == 0 ||
		strcmp(t->method, "DELETE") == 0;
	const char *method = t->method;
	const char *body = query ? NULL : t->args;
	bool		auth = true;
	char	   *hop_url;
	double		started = now_seconds();
	double		deadline;
	int			hops = 0;
	int			i;

	if (t->url == NULL || *t->url == '\0')
	{
		tool_failure(out, "an http task needs a url (or endpoint)", NULL);
		return;
	}
	if ((hop_url = bad_request(t)) != NULL)
	{
		tool_failure(out, hop_url, NULL);
		pg_free(hop_url);
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
	hop_url = pg_strdup(url.data);
	response_init(&resp);

	/*
	 * The worker kills the runner at the timeout: curl gives up a little
	 * earlier (by a tenth of it, at most a second), so that the task
	 * fails with curl's message and the runner stays.  The redirects of a
	 * task share its time.
	 */
	deadline = timeout > 0 ? started + timeout - Min(1.0, timeout / 10) : 0;
	for (;;)
	{
		long		timeout_ms = 0;
		char	   *next = NULL;

		if (deadline > 0)
			timeout_ms = (long) Max((deadline - now_seconds()) * 1000, 1);
		response_reset(&resp);
		rc = request(h, t, method, hop_url, body, auth, hops > 0, timeout_ms, &resp, errbuf);
		if (rc != CURLE_OK)
			break;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (!t->follow_redirects ||
			(status != 301 && status != 302 && status != 303 && status != 307 && status != 308))
			break;
		curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &next);
		if (next == NULL)
			break;				/* no Location: the 3xx is the answer */
		if (++hops > MAX_REDIRECTS)
			break;
		auth = auth && keeps_auth(hop_url, next);
		pg_free(hop_url);
		hop_url = pg_strdup(next);
		if (strcmp(redirect_method(method, status), method) != 0)
		{
			method = redirect_method(method, status);
			body = NULL;
		}
	}

	if (rc != CURLE_OK)
	{
		char	   *msg;

		if (resp.body_too_large)
			msg = psprintf("%s %s: the response body is larger than %zu MB", method, hop_url,
						   MAX_BODY / (1024 * 1024));
		else if (resp.headers_too_large)
			msg = psprintf("%s %s: the response headers are larger than %zu kB, or more than %d lines",
						   method, hop_url, MAX_HEADER_BYTES / 1024, MAX_HEADER_LINES);
		else
			msg = psprintf("%s %s: %s", method, hop_url,
						   *errbuf ? errbuf : curl_easy_strerror(rc));
		tool_failure(out, msg, NULL);
		pg_free(msg);
	}
	else if (hops > MAX_REDIRECTS)
	{
		char	   *msg = psprintf("%s %s: more than %d redirects", t->method, url.data,
								   MAX_REDIRECTS);

		appendPQExpBufferStr(out, "{\"ok\": false, \"error\": ");
		json_append_string(out, msg, strlen(msg));
		appendPQExpBufferStr(out, ", ");
		append_result(out, h, status, now_seconds() - started, &resp);
		appendPQExpBufferChar(out, '}');
		pg_free(msg);
	}
	else
	{
		bool		ok = status >= 200 && status < 300;

		appendPQExpBuffer(out, "{\"ok\": %s, ", ok ? "true" : "false");
		if (!ok)
		{
			/* NoETL's message, "HTTP 404: Not Found", and the request */
			char	   *msg = psprintf("HTTP %ld%s%s (%s %s)", status,
									   resp.reason && *resp.reason ? ": " : "",
									   resp.reason ? resp.reason : "", method, hop_url);

			appendPQExpBufferStr(out, "\"error\": ");
			json_append_string(out, msg, strlen(msg));
			appendPQExpBufferStr(out, ", ");
			pg_free(msg);
		}
		append_result(out, h, status, now_seconds() - started, &resp);
		appendPQExpBufferChar(out, '}');
	}
	curl_easy_cleanup(h);
	pg_free(hop_url);
	termPQExpBuffer(&url);
	response_free(&resp);
}
