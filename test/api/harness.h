/* harness.h — black-box API tests: start the real orgd binary on a free
 * loopback port against the test database, speak HTTP with libcurl, look at
 * the database with libmongoc, stop orgd by its pid.
 *
 * The database URI comes from ORGD_TEST_MONGO_URI (scripts/test sets it).
 * Every orgd gets its own MASTER_DB, so tests never share state.
 *
 * Everything the harness exports starts with th_ (TH_ for macros), so that
 * a test reads at a glance which calls are the harness and which the code
 * under test. One header per concern; tests include this one for all:
 *   harness_orgd.h  the process: start, stop, spawn, wait, commands, its
 *                   log; the shared orgd and a test's own
 *   harness_http.h  requests and responses (each one recorded for the
 *                   contract check) and problems, /metrics, a request's
 *                   log line, requests on threads and races
 *   harness_flows.h the org-first and account-first flows, step by step,
 *                   and what a session's tokens answer
 *   harness_db.h    the database through libmongoc; private databases
 *   harness_raw.h   plain sockets, for what libcurl would never send
 */
#ifndef ORGD_TEST_HARNESS_H
#define ORGD_TEST_HARNESS_H

#include "harness_db.h"
#include "harness_flows.h"
#include "harness_http.h"
#include "harness_orgd.h"
#include "harness_raw.h"

#endif
