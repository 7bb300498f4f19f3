// Package store declares the narrow storage interfaces the domain packages
// need. Implementations live in sqlite/ and postgres/ and must pass the one
// conformance suite in storetest/.
//
// Everything sensitive reaches the store already encrypted: the store sees
// ciphertext, blind indexes, ids, counts and timestamps, never plaintext
// about a person.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("store: not found")
	// ErrConflict reports a unique constraint violation (duplicate lookup id,
	// duplicate username index, existing meta key on CreateMeta).
	ErrConflict = errors.New("store: conflict")
	// ErrSchemaUnknown reports a database whose schema version is newer than
	// this binary knows; the binary refuses to touch it.
	ErrSchemaUnknown = errors.New("store: unknown schema version")
)

// Request statuses.
const (
	StatusNew        = "new"
	StatusInProgress = "in_progress"
	StatusClosed     = "closed"
)

// Message authors.
const (
	AuthorPerson = "person"
	AuthorStaff  = "staff"
)

// Request is one anonymous request for help. Its answers and messages are
// encrypted under the request's data key; the data key is stored twice,
// sealed to the organisation's intake key and wrapped by the person's
// receipt-derived key.
type Request struct {
	ID           string    // random, opaque
	LookupID     []byte    // derived from the receipt; unique
	CreatedAt    time.Time // set by the caller
	UpdatedAt    time.Time // last message or change; maintained by the store
	Urgency      int       // 0 (low) … 3 (immediate danger); kept in clear for sorting
	Status       string    // StatusNew, StatusInProgress, StatusClosed
	AssigneeID   int64     // 0 = unassigned
	KeyIntake    []byte    // data key sealed (age) to the intake recipient
	KeyPerson    []byte    // data key wrapped by the person's key
	Answers      []byte    // ciphertext of the form answers
	UnreadStaff  bool      // a person wrote something no staff member has opened yet
	MessageCount int       // maintained by the store
}

// Message is one message in a request's conversation.
type Message struct {
	ID        string // random, opaque
	RequestID string
	CreatedAt time.Time
	Author    string // AuthorPerson or AuthorStaff
	StaffID   int64  // author's user id when Author == AuthorStaff
	Body      []byte // ciphertext
}

// InboxFilter selects requests for the staff inbox. The order is fixed:
// open requests before closed, then urgency (highest first), then newest first.
type InboxFilter struct {
	AssigneeID int64  // > 0: only requests assigned to this user
	Status     string // "" = any
	Limit      int    // <= 0 means 50
	Offset     int
}

// Requests stores anonymous requests and their conversations.
type Requests interface {
	// CreateRequest inserts r; r.UpdatedAt is set to r.CreatedAt and
	// r.MessageCount to 0. ErrConflict if the id or lookup id exists.
	CreateRequest(ctx context.Context, r *Request) error
	GetRequest(ctx context.Context, id string) (*Request, error)
	GetRequestByLookup(ctx context.Context, lookupID []byte) (*Request, error)
	// ListInbox returns one page and the total number of matching requests.
	ListInbox(ctx context.Context, f InboxFilter) ([]*Request, int, error)
	SetStatus(ctx context.Context, id, status string, at time.Time) error
	SetAssignee(ctx context.Context, id string, userID int64, at time.Time) error
	// MarkRead clears UnreadStaff.
	MarkRead(ctx context.Context, id string) error
	// AddMessage appends m, bumps the request's MessageCount and UpdatedAt,
	// and sets UnreadStaff when the author is the person.
	AddMessage(ctx context.Context, m *Message) error
	// ListMessages returns a request's messages, oldest first.
	ListMessages(ctx context.Context, requestID string) ([]*Message, error)
}

// Staff roles.
const (
	RoleAdmin       = "admin"
	RoleCoordinator = "coordinator"
	RoleOperator    = "operator"
	RoleCaseworker  = "caseworker"
	RoleLogistics   = "logistics"
	RoleCustodian   = "custodian"
)

// Roles lists every role, most powerful first.
func Roles() []string {
	return []string{RoleAdmin, RoleCoordinator, RoleOperator, RoleCaseworker, RoleLogistics, RoleCustodian}
}

// User is a staff account. The username is stored only as a blind index
// (for look-up) and as ciphertext (for display).
type User struct {
	ID                 int64 // assigned by CreateUser
	UsernameIndex      []byte
	Username           []byte // ciphertext
	Role               string
	PasswordHash       string // argon2id, PHC string format
	TOTPSecret         []byte // ciphertext; nil until enrolment starts
	TOTPEnrolled       bool
	TOTPLastStep       int64 // last accepted TOTP time step; a step is never accepted twice
	Disabled           bool
	MustChangePassword bool
	FailedLogins       int       // consecutive failures from untrusted clients
	LockedUntil        time.Time // zero when not locked
	CreatedAt          time.Time
}

// Users stores staff accounts.
type Users interface {
	// CreateUser inserts u and sets u.ID. ErrConflict on a duplicate index.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id int64) (*User, error)
	GetUserByIndex(ctx context.Context, usernameIndex []byte) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error) // ordered by id
	// UpdateUser writes every mutable field of u (all but ID, UsernameIndex,
	// CreatedAt and TOTPLastStep).
	UpdateUser(ctx context.Context, u *User) error
	// UseTOTPStep records step as used if it is greater than the last used
	// step, atomically, and reports whether it was accepted.
	UseTOTPStep(ctx context.Context, userID int64, step int64) (bool, error)
	CountUsers(ctx context.Context) (int, error)
}

// Session is a server-side staff session. Only a hash of the cookie's token
// is stored.
type Session struct {
	TokenHash []byte
	UserID    int64
	CreatedAt time.Time
	LastSeen  time.Time
}

// Sessions stores staff sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, tokenHash []byte) (*Session, error)
	TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error
	DeleteSession(ctx context.Context, tokenHash []byte) error
	DeleteUserSessions(ctx context.Context, userID int64) error
	// DeleteIdleSessions removes sessions last seen before the given time
	// and returns how many it removed.
	DeleteIdleSessions(ctx context.Context, lastSeenBefore time.Time) (int, error)
}

// AuditEntry is one entry of the hash-chained audit log: who did what to
// which object, and when; never content.
type AuditEntry struct {
	Seq      int64 // 1, 2, 3 …; assigned by AppendAudit
	At       time.Time
	ActorID  int64  // staff user id; 0 for the system or an anonymous person
	Action   string // e.g. "request.read"
	Object   string // e.g. "request:ab12…", "user:3"
	PrevHash []byte // Hash of entry Seq-1; nil for Seq 1
	Hash     []byte
}

// AuditFilter selects a page of the audit log, newest first.
type AuditFilter struct {
	BeforeSeq int64 // > 0: only entries with Seq < BeforeSeq
	ActorID   int64 // > 0: only this actor
	Limit     int   // <= 0 means 100
}

// Audit stores the audit log.
type Audit interface {
	// AppendAudit assigns e.Seq and e.PrevHash from the current last entry,
	// sets e.Hash = hash(e) and inserts e, atomically with respect to
	// other appends.
	AppendAudit(ctx context.Context, e *AuditEntry, hash func(*AuditEntry) []byte) error
	// AuditRange returns entries with from <= Seq, oldest first, at most limit.
	AuditRange(ctx context.Context, from int64, limit int) ([]*AuditEntry, error)
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}

// Meta is a small key-value table for installation-wide values: the wrapped
// root key, the intake recipient, the installation salt.
type Meta interface {
	GetMeta(ctx context.Context, key string) ([]byte, error) // ErrNotFound
	SetMeta(ctx context.Context, key string, value []byte) error
	// CreateMeta sets key only if absent; ErrConflict otherwise.
	CreateMeta(ctx context.Context, key string, value []byte) error
}

// Store is everything together, plus transactions.
type Store interface {
	Requests
	Cases
	Referrals
	Tasks
	Logistics
	Evidence
	Stats
	Index
	Users
	Sessions
	Audit
	Meta
	// Tx runs fn in one transaction: every call fn makes on tx commits
	// together or not at all. fn must not use the outer Store.
	Tx(ctx context.Context, fn func(tx Store) error) error
	// SchemaVersion reports the version the database is at.
	SchemaVersion(ctx context.Context) (int, error)
	Close() error
}
