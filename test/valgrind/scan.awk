# test/valgrind/scan.awk: which memcheck reports are noetl's.
#
#     awk -v sources="broker.c rows.c ..." -f scan.awk vg.*.log
#
# Reads valgrind's text logs, one per server process, written with
# --fullpath-after= so that frames show source paths.  Prints a line per
# distinct report, tab-separated:
#
#     E  noetl|other  times  processes  kind  where  key
#
# each report of noetl followed by its excerpt, lines "X <tab> text"; and
# last "L <tab> logs <tab> logs-without-summary <tab> valgrind-warnings".
#
# A report is noetl's when a frame of any of its stacks (where it happened,
# where the block was freed, where it was allocated) is in noetl: its
# source is src/NAME with NAME one of the sources given, or (a build
# without debug information) its object is noetl.so.  Reports are told
# apart by their kind (sizes and addresses left out) and the noetl frames
# where they happened, so one bug met by many backends is one line.  A
# report of any kind counts: invalid reads and writes, invalid frees, uses
# of uninitialised values, overlapping copies, a fatal signal.  Leaks are
# not looked at (run.sh turns leak checking off).

BEGIN {
	nsrc = split(sources, list, " ")
	for (i = 1; i <= nsrc; i++)
		is_source[list[i]] = 1
	nerr = 0
	nlogs = 0
	incomplete = 0
	warnings = 0
	nrec = 0
}

# frame_is_noetl(line): does this "at"/"by" line show a frame of noetl?
function frame_is_noetl(line,    loc, parts)
{
	if (line ~ /\(in [^)]*\/noetl\.so\)$/)
		return 1
	if (!match(line, /\/src\/[^\/:()]+:[0-9]+\)$/))
		return 0
	loc = substr(line, RSTART + 5, RLENGTH - 6)
	split(loc, parts, ":")
	return (parts[1] in is_source)
}

# drop_all(s, t): s without any occurrence of the string t
function drop_all(s, t,    i, out)
{
	out = ""
	while ((i = index(s, t)) > 0)
	{
		out = out substr(s, 1, i - 1)
		s = substr(s, i + length(t))
	}
	return out s
}

# short_frame(line): "function (src/file.c:line)", without address and paths
function short_frame(line,    s, loc)
{
	s = line
	sub(/^ *(at|by) 0x[0-9A-Fa-f]+: /, "", s)
	if (match(s, /\(\/[^()]*\/src\/[^\/()]+:[0-9]+\)$/))
	{
		loc = substr(s, RSTART + 1, RLENGTH - 2)
		sub(/.*\/src\//, "src/", loc)
		s = substr(s, 1, RSTART) loc ")"
	}
	sub(/\(in [^)]*\/bin\/postgres\)$/, "(postgres)", s)
	sub(/\(in \/usr\/libexec\/valgrind\/[^)]*\)$/, "(valgrind)", s)
	return s
}

# flush(): files the report gathered in rec[1..nrec]
function flush(    i, line, kind, key, where, mine, stack, excerpt, skipped, depth, reached)
{
	if (nrec == 0)
		return
	kind = rec[1]
	gsub(/0x[0-9A-Fa-f]+/, "A", kind)
	gsub(/[0-9][0-9,]*/, "N", kind)
	mine = 0
	key = kind
	where = ""
	stack = 0
	for (i = 2; i <= nrec; i++)
	{
		line = rec[i]
		if (line ~ /^ *at 0x/)
			stack++
		if (line ~ /^ *(at|by) 0x/ && frame_is_noetl(line))
		{
			mine = 1
			if (stack == 1)
			{
				key = key " < " short_frame(line)
				if (where == "")
					where = short_frame(line)
			}
			else if (where == "")
				where = "a block from " short_frame(line)
		}
	}
	if (key == kind && where != "")
		key = kind " < " where
	if (!(key in count))
	{
		order[++nerr] = key
		first[key] = rec[1]
		owner[key] = mine ? "noetl" : "other"
		place[key] = (where == "") ? "PostgreSQL" : where
		procs[key] = 0
		if (mine)
		{
			# the excerpt: the message; of each stack, the frames up to the
			# first of noetl (the first six at most, unnamed ones left out)
			# and noetl's, "..." for those left out; and what the lines
			# between stacks say about the address
			excerpt = "X\t" rec[1]
			skipped = 0
			for (i = 2; i <= nrec; i++)
			{
				line = rec[i]
				if (line ~ /^ *(at|by) 0x/)
				{
					if (line ~ /^ *at 0x/)
					{
						depth = 0
						reached = 0
					}
					depth++
					if (frame_is_noetl(line) ||
						(!reached && depth <= 6 && line !~ /: \?\?\? \(/))
					{
						if (skipped)
							excerpt = excerpt "\nX\t   ..."
						excerpt = excerpt "\nX\t   " short_frame(line)
						skipped = 0
					}
					else
						skipped = 1
					if (frame_is_noetl(line))
						reached = 1
				}
				else
				{
					if (skipped)
						excerpt = excerpt "\nX\t   ..."
					skipped = 0
					excerpt = excerpt "\nX\t " line
				}
			}
			if (skipped)
				excerpt = excerpt "\nX\t   ..."
			excerpts[key] = excerpt
		}
	}
	count[key]++
	if (!((key, FILENAME) in seen))
	{
		seen[key, FILENAME] = 1
		procs[key]++
	}
	nrec = 0
}

FNR == 1 {
	flush()
	if (nlogs > 0 && !summary)
		incomplete++
	nlogs++
	summary = 0
	body = 0
}

{
	line = $0
	if (line !~ /^==[0-9]+==/)
		next
	sub(/^==[0-9]+== ?/, "", line)
}

# the preamble, up to the command line (and the parent's pid after it)
!body {
	if (line ~ /^Command: /)
		body = 1
	next
}
line ~ /^Parent PID: / {
	next
}

line ~ /^(HEAP|ERROR) SUMMARY:/ {
	flush()
	if (line ~ /^ERROR SUMMARY:/)
		summary = 1
	next
}

line == "" {
	flush()
	next
}

# valgrind's remarks, and the summaries' other lines: not reports
line ~ /^Warning: / {
	flush()
	warnings++
	next
}
line ~ /^(For (a detailed|lists|counts)|Use --|Rerun with|All heap blocks|LEAK SUMMARY)/ {
	flush()
	next
}
line ~ /^ *(in use at exit|total heap usage|definitely lost|indirectly lost|possibly lost|still reachable|suppressed):/ {
	next
}

# an unindented line starts a report; indented lines continue it
line !~ /^ / {
	flush()
	rec[++nrec] = line
	next
}

nrec > 0 {
	rec[++nrec] = line
}

END {
	flush()
	if (nlogs > 0 && !summary)
		incomplete++
	for (i = 1; i <= nerr; i++)
	{
		key = order[i]
		printf "E\t%s\t%d\t%d\t%s\t%s\t%s\n", owner[key], count[key], procs[key], first[key],
			place[key], key
		if (owner[key] == "noetl")
			print excerpts[key]
	}
	printf "L\t%d\t%d\t%d\n", nlogs, incomplete, warnings
}
