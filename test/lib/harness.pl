#!/usr/bin/perl
# test/lib/harness.pl: runs TAP tests with TAP::Harness, prove's engine, and
# prints their totals as the harness counts them.
#
#     perl test/lib/harness.pl FILE...
#
# pgTAP files (*.sql) run through psql in $PGDATABASE, as pg_prove runs
# them; every other file is an executable that prints TAP.  A test file
# that fails, dies, misses its plan or exits non-zero without reporting a
# failure counts as one failure; a file skipped as a whole (a plan of
# 1..0 # SKIP) is reported as skipped.  The last line is
# "tap: N passed, N failed, N files skipped"; the exit status is 0 only if
# every file passed.
use strict;
use warnings;

use TAP::Harness;

my $harness = TAP::Harness->new({
    verbosity => 1,
    merge     => 1,
    sources   => {
        pgTAP      => { suffix => '.sql', dbname => $ENV{PGDATABASE} || 'postgres' },
        Executable => {},
    },
});
my $agg = $harness->runtests(@ARGV);
my ($passed, $failed, $skipped) = (0, 0, 0);
for my $file ($agg->descriptions) {
    my ($parser) = $agg->parsers($file);
    my $f = scalar $parser->failed;

    if ($parser->skip_all) {
        $skipped++;
        next;
    }
    $f = 1 if $f == 0 && $parser->has_problems;
    $passed += scalar $parser->passed;
    $failed += $f;
}
printf "tap: %d passed, %d failed, %d files skipped\n", $passed, $failed, $skipped;
exit($agg->all_passed ? 0 : 1);
