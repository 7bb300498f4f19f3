// Package e2e holds Corridor's end-to-end tests: the corridor command run
// in-process (init, then serve on loopback ports), driven by a plain HTTP
// client and by headless Chromium. They check what only a whole running
// system can show of docs/threat-model.md: the no-JavaScript journey of a
// person and a caseworker, HTML escaping in the staff view, CSRF refusal,
// and that nothing a person or a staff member types reaches the disk or the
// logs in clear.
//
// The browser tests need Chromium (Debian's package at /usr/bin/chromium,
// or CORRIDOR_CHROMIUM naming the binary). Without it they are skipped,
// unless CORRIDOR_REQUIRE_BROWSER=1, when they fail. With
// CORRIDOR_SCREENSHOTS=DIR they save PNG screenshots of the main pages
// into DIR for a person to look at.
//
// The package has no non-test code; this file only keeps it from being
// empty.
package e2e
