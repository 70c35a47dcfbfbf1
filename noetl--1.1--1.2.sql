/*
 * noetl--1.1--1.2.sql: from version 1.1 to 1.2.
 *
 * As with 1.1, there is no full script: CREATE EXTENSION noetl runs
 * noetl--1.0.sql and the updates after it, so a new installation and an
 * updated one are the same by construction.
 */

\echo Use "ALTER EXTENSION noetl UPDATE TO '1.2'" to load this file. \quit

/*
 * Leases begin at the queue's ready mark, kept in shared memory
 * (src/ready_mark.c), so that their cost stays bounded while vacuum
 * cannot remove the entries of leased tasks.  The broker writes queue rows
 * below SQL and lowers the mark itself; a SQL statement that writes the
 * queue (an administrator's UPDATE, a restore) makes the mark forgotten
 * by this trigger, so that no task it makes ready is passed over.
 */
CREATE FUNCTION noetl.queue_written() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'noetl_queue_written';
REVOKE ALL ON FUNCTION noetl.queue_written() FROM PUBLIC;
COMMENT ON FUNCTION noetl.queue_written() IS
'statement trigger of noetl.queue: a SQL statement wrote the queue, so leases begin at the start of queue_ready_idx again';

CREATE TRIGGER queue_written AFTER INSERT OR UPDATE ON noetl.queue
    FOR EACH STATEMENT EXECUTE FUNCTION noetl.queue_written();
