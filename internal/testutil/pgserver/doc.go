// Package pgserver starts a private PostgreSQL server for one test, from
// the distribution's binaries, in a temporary directory and on a free
// loopback port, so that a test can stop it (fast or immediate, as an
// operator or a crash would) and start it again on the same port and
// data, or pause it (a database that hangs), without disturbing the
// server other tests share.
package pgserver
