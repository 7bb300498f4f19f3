// Package upload receives staff's resumable uploads of large evidence
// files (the tus 1.0.0 protocol, served by github.com/tus/tusd/v2) and
// keeps them encrypted at rest until they are ingested, so that a server
// seized mid-upload yields no plaintext: not the bytes, not the file name.
//
// # At rest
//
// Each upload has a random data key, wrapped by the caller's Keyring (the
// vault). Every PATCH is cut into frames of at most 64 KiB, each sealed
// with XChaCha20-Poly1305 under a random nonce, its associated data naming
// the upload and the plaintext offset (frame.go). The upload's record —
// length, the tus Upload-Metadata with the file name, the owner — is
// sealed under the same key (info.go). A chunk is fsynced before tusd
// acknowledges it.
//
// The offset a client is told is the plaintext length of the whole,
// authentic frames on the disk. A frame torn by a crash was never
// acknowledged: it is not counted, and the resumed upload overwrites it.
// An upload whose bytes have all arrived but whose ingest failed (or the
// process died during it) is reported one frame short, so that the client
// sends that frame again and the ingest runs again: a client is only ever
// told "complete" once its file is safely ingested. After a successful
// ingest the data file is deleted, and a marker (the record without its
// metadata) answers a client that asks again, until it expires.
//
// Sweep deletes what has not been touched for Options.Expiry (24h by
// default): abandoned uploads, markers, files a crash left behind. The
// caller runs it periodically.
//
// # Wiring
//
//	st, err := upload.New(filepath.Join(dataDir, "uploads"), keyring, upload.Options{MaxSize: limit})
//	h, err := upload.NewHandler(st, upload.HandlerConfig{
//		BasePath:   "/evidence/uploads/",
//		Authorize:  ..., // session, CSRF header, permission, vault unsealed
//		Owner:      ..., // the staff user's id
//		OnComplete: ..., // evidence ingest of body; nil only once stored
//	})
//	mux.Handle("/evidence/uploads/", h)
//
// The vault already has the shape of a Keyring: WrapDataKey and
// UnwrapDataKey, better with the id prefixed ("upload/"+id) so that upload
// keys cannot be confused with case keys.
//
// # What the staff page must do
//
// tus clients (tus-js-client, served by the binary like every other
// script, so the page's CSP needs script-src 'self' and connect-src
// 'self') talk to the endpoint with XMLHttpRequest or fetch: POST to
// create, HEAD to learn the offset, PATCH to send bytes, DELETE to cancel,
// OPTIONS to discover. They cannot send the form field the staff site's
// CSRF check reads, so:
//
//   - the session cookie (SameSite=Strict) goes along by itself on these
//     same-origin requests; Authorize checks it as the staff gate does;
//   - the page passes the CSRF token as a header (tus-js-client option
//     headers: {"X-CSRF-Token": token}) and Authorize checks that header
//     on every request that is not HEAD or OPTIONS (POST, PATCH, DELETE;
//     note that X-HTTP-Method-Override can make a POST any of them). CORS
//     is off, so no other origin can send a custom header at all;
//   - Authorize answers 503 (an *Error) while the vault is sealed, so the
//     client retries rather than gives up; the store itself answers 503
//     when the Keyring cannot unwrap.
//
// The page should send the file name and type as metadata ("filename",
// "filetype"), use a chunkSize of a few MiB (each acknowledged chunk is on
// the disk), retryDelays for poor links, and removeFingerprintOnSuccess.
// tus-js-client's default fingerprint, kept in the browser's localStorage
// to resume after a reload, contains the file name: give it a fingerprint
// function that hashes name, size and modification time instead.
package upload
