/*-------------------------------------------------------------------------
 *
 * yaml_compose.c
 *	  libyaml's events become a node graph, as PyYAML's Composer builds it.
 *
 * Anchors are registered when their node starts, so that an alias may
 * refer to an enclosing node (the graph may then be recursive); a
 * duplicate anchor and an undefined alias are errors; the stream holds at
 * most one document.  Anchors are hashed, so that a document of many
 * anchors composes in linear time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "yaml_private.h"

/*
 * next_event pulls the next event from libyaml.  The event's buffers belong
 * to libyaml; callers copy what they keep and delete the event.
 */
static void
next_event(YamlReader *r, yaml_event_t *ev)
{
	CHECK_FOR_INTERRUPTS();
	if (!yaml_parser_parse(&r->parser, ev))
	{
		yaml_reraise(&r->in);
		yaml_parser_fail(r);
	}
}

/* anchor_hash hashes an anchor name */
static uint32
anchor_hash(const char *s)
{
	uint32		h = 5381;

	while (*s)
		h = h * 33 + (unsigned char) *s++;
	return h;
}

/* anchor_find returns the anchor called name, or NULL */
static YAnchor *
anchor_find(YamlReader *r, const char *name)
{
	YAnchor    *a;

	if (r->anchor_buckets == 0)
		return NULL;
	for (a = r->anchors[anchor_hash(name) & (r->anchor_buckets - 1)]; a; a = a->next)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* anchor_grow doubles (or creates) the anchor hash table */
static void
anchor_grow(YamlReader *r)
{
	int			nb = r->anchor_buckets ? r->anchor_buckets * 2 : 64;
	YAnchor   **buckets = palloc0(sizeof(YAnchor *) * nb);
	int			i;

	for (i = 0; i < r->anchor_buckets; i++)
	{
		YAnchor    *a = r->anchors[i];

		while (a)
		{
			YAnchor    *next = a->next;
			uint32		h = anchor_hash(a->name) & (nb - 1);

			a->next = buckets[h];
			buckets[h] = a;
			a = next;
		}
	}
	r->anchors = buckets;
	r->anchor_buckets = nb;
}

/*
 * anchor_define registers an anchor; PyYAML refuses to redefine one.
 */
static void
anchor_define(YamlReader *r, const char *name, YNode *n)
{
	YAnchor    *a = anchor_find(r, name);
	uint32		h;

	if (a != NULL)
	{
		char	   *msg = psprintf("found duplicate anchor \"%s\" (first occurrence at line %d, column %d)",
								   name, a->node->line, a->node->column);

		yaml_node_fail(n, msg);
	}
	if (r->nanchors >= r->anchor_buckets)
		anchor_grow(r);
	h = anchor_hash(name) & (r->anchor_buckets - 1);
	a = palloc(sizeof(YAnchor));
	a->name = pstrdup(name);
	a->node = n;
	a->next = r->anchors[h];
	r->anchors[h] = a;
	r->nanchors++;
}

/* new_node makes a node of kind that starts at mark, counted as composed */
static YNode *
new_node(YamlReader *r, YNodeKind kind, yaml_mark_t mark)
{
	YNode	   *n = palloc0(sizeof(YNode));

	r->composed++;
	n->kind = kind;
	n->line = (int) mark.line + 1;
	n->column = (int) mark.column + 1;
	return n;
}

/* node_add appends child to a collection node */
static void
node_add(YNode *n, YNode *child)
{
	if (n->nitems == n->cap)
	{
		n->cap = n->cap ? n->cap * 2 : 4;
		n->items = n->items ? repalloc(n->items, sizeof(YNode *) * n->cap)
			: palloc(sizeof(YNode *) * n->cap);
	}
	n->items[n->nitems++] = child;
}

/*
 * compose_node builds the node that starts with event ev (which it
 * deletes), reading further events for collections.
 */
static YNode *
compose_node(YamlReader *r, yaml_event_t *ev)
{
	YNode	   *n;
	char	   *anchor = NULL;
	char	   *tag = NULL;

	check_stack_depth();
	switch (ev->type)
	{
		case YAML_ALIAS_EVENT:
			{
				YAnchor    *a = anchor_find(r, (char *) ev->data.alias.anchor);

				if (a == NULL)
				{
					char	   *msg = psprintf("found undefined alias \"%s\"",
											   (char *) ev->data.alias.anchor);
					int			line = (int) ev->start_mark.line + 1;
					int			col = (int) ev->start_mark.column + 1;

					yaml_event_delete(ev);
					yaml_fail(line, col, msg);
				}
				yaml_event_delete(ev);
				r->composed++;
				return a->node;
			}
		case YAML_SCALAR_EVENT:
			n = new_node(r, YN_SCALAR, ev->start_mark);
			n->len = ev->data.scalar.length;
			n->value = palloc(n->len + 1);
			memcpy(n->value, ev->data.scalar.value, n->len);
			n->value[n->len] = '\0';
			if (ev->data.scalar.tag)
				tag = pstrdup((char *) ev->data.scalar.tag);
			if (tag != NULL && strcmp(tag, "!") == 0)
				n->tag = yaml_resolve_plain(n->value, n->len);
			else if (tag == NULL)
				n->tag = ev->data.scalar.plain_implicit ?
					yaml_resolve_plain(n->value, n->len) : TAG_STR;
			else
				n->tag = tag;
			if (ev->data.scalar.anchor)
				anchor = pstrdup((char *) ev->data.scalar.anchor);
			yaml_event_delete(ev);
			if (anchor)
				anchor_define(r, anchor, n);
			return n;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			{
				bool		is_seq = ev->type == YAML_SEQUENCE_START_EVENT;
				yaml_event_type_t end = is_seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
				yaml_char_t *t = is_seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
				yaml_char_t *a = is_seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;

				n = new_node(r, is_seq ? YN_SEQUENCE : YN_MAPPING, ev->start_mark);
				if (t && strcmp((char *) t, "!") != 0)
					n->tag = pstrdup((char *) t);
				else
					n->tag = is_seq ? TAG_SEQ : TAG_MAP;
				if (a)
					anchor = pstrdup((char *) a);
				yaml_event_delete(ev);
				if (anchor)
					anchor_define(r, anchor, n);
				yaml_depth_enter(r, n->line, n->column);
				for (;;)
				{
					yaml_event_t child;

					next_event(r, &child);
					if (child.type == end)
					{
						yaml_event_delete(&child);
						break;
					}
					node_add(n, compose_node(r, &child));
				}
				r->depth--;
				return n;
			}
		default:
			{
				int			line = (int) ev->start_mark.line + 1;
				int			col = (int) ev->start_mark.column + 1;

				yaml_event_delete(ev);
				yaml_fail(line, col, "unexpected event");
			}
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * yaml_compose_document reads the stream: nothing (null), or exactly one
 * document.
 */
YNode *
yaml_compose_document(YamlReader *r)
{
	yaml_event_t ev;
	YNode	   *root;

	next_event(r, &ev);
	Assert(ev.type == YAML_STREAM_START_EVENT);
	yaml_event_delete(&ev);
	next_event(r, &ev);
	if (ev.type == YAML_STREAM_END_EVENT)
	{
		yaml_event_delete(&ev);
		return NULL;
	}
	Assert(ev.type == YAML_DOCUMENT_START_EVENT);
	yaml_event_delete(&ev);
	next_event(r, &ev);
	root = compose_node(r, &ev);
	next_event(r, &ev);
	Assert(ev.type == YAML_DOCUMENT_END_EVENT);
	yaml_event_delete(&ev);
	next_event(r, &ev);
	if (ev.type != YAML_STREAM_END_EVENT)
	{
		int			line = (int) ev.start_mark.line + 1;
		int			col = (int) ev.start_mark.column + 1;

		yaml_event_delete(&ev);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid YAML at line %d, column %d: expected a single document in the stream, but found another document",
						line, col)));
	}
	yaml_event_delete(&ev);
	return root;
}

