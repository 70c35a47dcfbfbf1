/*
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
 * Redirects are not followed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "noetl.h"

typedef struct Response
{
	Buf			body;
	Buf			headers;		/* ", \"name\": \"value\"" for each header */
	int			nheaders;
} Response;

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	Response   *r = arg;

	buf_add(&r->body, data, size * n);
	return size * n;
}

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
		r->headers.len = 0;
		r->headers.data[0] = '\0';
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
	buf_puts(&r->headers, r->nheaders++ > 0 ? ", " : "");
	buf_json_string(&r->headers, data, (size_t) (colon - data));
	buf_puts(&r->headers, ": ");
	buf_json_string(&r->headers, data + vstart, vend - vstart);
	return len;
}

static bool
has_header(Task *t, const char *name)
{
	int			i;

	for (i = 0; i < t->nheaders; i++)
		if (strcasecmp(t->headers[i].key, name) == 0)
			return true;
	return false;
}

void
tool_http(Task *t, double timeout)
{
	CURL	   *h;
	CURLcode	rc;
	struct curl_slist *hdrs = NULL;
	Response	resp;
	Buf			url;
	Buf			out;
	char		errbuf[CURL_ERROR_SIZE] = "";
	long		status = 0;
	bool		query = strcmp(t->method, "GET") == 0 || strcmp(t->method, "HEAD") == 0 ||
		strcmp(t->method, "DELETE") == 0;
	int			i;

	if (t->url == NULL || *t->url == '\0')
		report_failure("an http task needs a url (or endpoint)", NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (h = curl_easy_init()) == NULL)
		report_failure("could not initialise libcurl", NULL);

	buf_init(&url);
	buf_puts(&url, t->url);
	if (query)
		for (i = 0; i < t->nparams; i++)
		{
			char	   *k = curl_easy_escape(h, t->params[i].key, 0);
			char	   *v = curl_easy_escape(h, t->params[i].value, 0);

			buf_printf(&url, "%s%s=%s", i == 0 && strchr(t->url, '?') == NULL ? "?" : "&", k, v);
			curl_free(k);
			curl_free(v);
		}
	for (i = 0; i < t->nheaders; i++)
	{
		Buf			line;

		buf_init(&line);
		buf_printf(&line, "%s: %s", t->headers[i].key, t->headers[i].value);
		hdrs = curl_slist_append(hdrs, line.data);
		buf_free(&line);
	}
	if (!query && t->args != NULL && !has_header(t, "Content-Type"))
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");

	buf_init(&resp.body);
	buf_init(&resp.headers);
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
	if (timeout > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) (timeout * 1000));

	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
	{
		Buf			msg;

		buf_init(&msg);
		buf_printf(&msg, "%s %s: %s", t->method, url.data, *errbuf ? errbuf : curl_easy_strerror(rc));
		report_failure(msg.data, NULL);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);

	buf_init(&out);
	buf_printf(&out, "{\"ok\": %s, ", status >= 500 ? "false" : "true");
	if (status >= 500)
	{
		Buf			msg;

		buf_init(&msg);
		buf_printf(&msg, "HTTP %ld from %s %s", status, t->method, url.data);
		buf_puts(&out, "\"error\": ");
		buf_json_string(&out, msg.data, msg.len);
		buf_puts(&out, ", ");
	}
	buf_printf(&out, "\"result\": {\"status_code\": %ld, \"headers\": {%s}, \"data\": ",
			   status, resp.headers.data);
	if (resp.body.len == 0)
		buf_puts(&out, "null");
	else if (json_valid(resp.body.data, resp.body.len))
		buf_add(&out, resp.body.data, resp.body.len);
	else
		buf_json_string(&out, resp.body.data, resp.body.len);
	buf_puts(&out, "}}");
	report(&out);
}
