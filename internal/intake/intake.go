// Package intake is the anonymous hotline: a person at risk submits a
// request, gets a receipt, and talks with staff through it; staff read,
// reply, triage and assign. It holds the rules; storage is behind
// store.Store and keys behind keys.Vault.
package intake

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/ratelimit"
	"github.com/corridor-org/corridor/internal/receipt"
	"github.com/corridor-org/corridor/internal/store"
)

// Sentinel errors.
var (
	ErrUnknownReceipt = errors.New("intake: no request for this receipt")
	ErrForbidden      = errors.New("intake: not allowed")
	ErrEmptyMessage   = errors.New("intake: empty message")
	ErrMessageTooLong = errors.New("intake: message too long")
	ErrInvalid        = errors.New("intake: invalid value")
)

// Service is the hotline's domain logic.
type Service struct {
	st          store.Store
	vault       *keys.Vault
	audit       *audit.Log
	form        *Form
	kdf         *ratelimit.Gate
	receiptKind receipt.Kind
	now         func() time.Time
}

// Config configures a Service.
type Config struct {
	Form        *Form
	ReceiptKind receipt.Kind
	// KDFGate caps concurrent receipt KDF runs, so a flood cannot make the
	// server compute unbounded argon2id in parallel.
	KDFGate *ratelimit.Gate
	Now     func() time.Time
}

// New returns a Service.
func New(st store.Store, v *keys.Vault, a *audit.Log, cfg Config) *Service {
	if cfg.Form == nil {
		cfg.Form = DefaultForm()
	}
	if cfg.KDFGate == nil {
		cfg.KDFGate = ratelimit.NewGate(2)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{st: st, vault: v, audit: a, form: cfg.Form, kdf: cfg.KDFGate, receiptKind: cfg.ReceiptKind, now: cfg.Now}
}

// Form is the request form in use.
func (s *Service) Form() *Form { return s.form }

// sealedAnswers is what is encrypted as a request's answers.
type sealedAnswers struct {
	FormVersion int     `json:"form_version"`
	Lang        string  `json:"lang"`
	Answers     Answers `json:"answers"`
}

func newID(prefix string) string {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		panic("intake: crypto/rand failed: " + err.Error())
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// AD labels bind each ciphertext to its record and field.
func adAnswers(id string) []string           { return []string{"request", id, "answers"} }
func adPersonKey(id string) []string         { return []string{"request", id, "person-key"} }
func adMessage(reqID, msgID string) []string { return []string{"message", reqID, msgID, "body"} }

func (s *Service) derive(ctx context.Context, normalised string) (keys.PersonKeys, error) {
	release, err := s.kdf.Enter(ctx)
	if err != nil {
		return keys.PersonKeys{}, fmt.Errorf("intake: waiting for kdf: %w", err)
	}
	defer release()
	return s.vault.Person(normalised)
}

// Submission is what Submit returns: the receipt, shown once and never
// stored, and the new request's id.
type Submission struct {
	Receipt   string
	RequestID string
}

// Submit stores a new request. It works while the server is sealed: the
// request's data key is sealed to the intake public key and wrapped by
// the person's receipt-derived key; nothing is stored in clear.
func (s *Service) Submit(ctx context.Context, a Answers, lang string) (*Submission, error) {
	rcpt, err := receipt.Generate(s.receiptKind)
	if err != nil {
		return nil, fmt.Errorf("intake: receipt: %w", err)
	}
	norm, _, err := receipt.Normalise(rcpt)
	if err != nil {
		return nil, fmt.Errorf("intake: receipt: %w", err)
	}
	pk, err := s.derive(ctx, norm)
	if err != nil {
		return nil, err
	}
	id, err := s.store(ctx, a, lang, pk, s.now().UTC(), "request.submit")
	if err != nil {
		return nil, err
	}
	return &Submission{Receipt: rcpt, RequestID: id}, nil
}

// Import stores a request that arrived some other way (a phone call, an
// older spreadsheet, demonstration data). It has no receipt, so no person
// can open it from the public site; staff reply through other channels.
func (s *Service) Import(ctx context.Context, a Answers, lang string, at time.Time) (string, error) {
	// Random person keys that nobody holds: the lookup id stays unique
	// and the person-side wrap is unusable by design.
	pk := keys.PersonKeys{LookupID: keys.NewKey(), Key: keys.NewKey()}
	defer keys.Wipe(pk.Key)
	return s.store(ctx, a, lang, pk, at.UTC(), "request.import")
}

func (s *Service) store(ctx context.Context, a Answers, lang string, pk keys.PersonKeys, at time.Time, action string) (string, error) {
	recipient, err := s.vault.IntakeRecipient()
	if err != nil {
		return "", err
	}
	id := newID("r")
	dk := keys.NewKey()
	defer keys.Wipe(dk)
	keyIntake, err := keys.SealToRecipients(dk, recipient)
	if err != nil {
		return "", err
	}
	keyPerson, err := keys.Encrypt(pk.Key, dk, adPersonKey(id)...)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(sealedAnswers{FormVersion: s.form.Version, Lang: lang, Answers: a})
	if err != nil {
		return "", fmt.Errorf("intake: %w", err)
	}
	answers, err := keys.Encrypt(dk, plain, adAnswers(id)...)
	clear(plain)
	if err != nil {
		return "", err
	}
	r := &store.Request{
		ID: id, LookupID: pk.LookupID, CreatedAt: at, Urgency: s.form.Urgency(a),
		Status: store.StatusNew, KeyIntake: keyIntake, KeyPerson: keyPerson, Answers: answers, UnreadStaff: true,
	}
	err = s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.CreateRequest(ctx, r); err != nil {
			return err
		}
		return audit.New(tx, s.now).Record(ctx, 0, action, "request:"+id)
	})
	if err != nil {
		return "", fmt.Errorf("intake: store request: %w", err)
	}
	return id, nil
}

// Access is a person's unlocked access to their own request, held in
// memory by the web layer for a short session.
type Access struct {
	RequestID string
	dataKey   []byte
}

// OpenReceipt turns a receipt into access to its request. Malformed
// receipts fail fast (with receipt's errors) before the expensive KDF.
func (s *Service) OpenReceipt(ctx context.Context, input string) (*Access, error) {
	norm, _, err := receipt.Normalise(input)
	if err != nil {
		return nil, err
	}
	pk, err := s.derive(ctx, norm)
	if err != nil {
		return nil, err
	}
	r, err := s.st.GetRequestByLookup(ctx, pk.LookupID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownReceipt
	}
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	dk, err := keys.Decrypt(pk.Key, r.KeyPerson, adPersonKey(r.ID)...)
	if err != nil {
		return nil, fmt.Errorf("intake: person key: %w", err)
	}
	return &Access{RequestID: r.ID, dataKey: dk}, nil
}

// Entry is one decrypted message of a conversation.
type Entry struct {
	ID        string
	At        time.Time
	Author    string // store.AuthorPerson or store.AuthorStaff
	StaffID   int64
	Body      string
	Undecided bool // the body could not be decrypted (shown as such, never hidden)
}

// Thread is a request with its answers and conversation, decrypted.
type Thread struct {
	Request  *store.Request
	Lang     string
	Answers  Answers
	Messages []Entry
}

func (s *Service) thread(ctx context.Context, r *store.Request, dk []byte) (*Thread, error) {
	plain, err := keys.Decrypt(dk, r.Answers, adAnswers(r.ID)...)
	if err != nil {
		return nil, fmt.Errorf("intake: answers of %s: %w", r.ID, err)
	}
	var sa sealedAnswers
	if err := json.Unmarshal(plain, &sa); err != nil {
		return nil, fmt.Errorf("intake: answers of %s: %w", r.ID, err)
	}
	msgs, err := s.st.ListMessages(ctx, r.ID)
	if err != nil {
		return nil, fmt.Errorf("intake: messages: %w", err)
	}
	t := &Thread{Request: r, Lang: sa.Lang, Answers: sa.Answers}
	for _, m := range msgs {
		e := Entry{ID: m.ID, At: m.CreatedAt, Author: m.Author, StaffID: m.StaffID}
		body, err := keys.Decrypt(dk, m.Body, adMessage(r.ID, m.ID)...)
		if err != nil {
			e.Undecided = true
		} else {
			e.Body = string(body)
		}
		t.Messages = append(t.Messages, e)
	}
	return t, nil
}

// PersonThread is the person's view of their own request.
func (s *Service) PersonThread(ctx context.Context, a *Access) (*Thread, error) {
	r, err := s.st.GetRequest(ctx, a.RequestID)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	return s.thread(ctx, r, a.dataKey)
}

// CheckMessage validates a message body and returns it cleaned.
func CheckMessage(body string) (string, error) {
	body = strings.TrimSpace(strings.ReplaceAll(body, "\r\n", "\n"))
	switch {
	case body == "":
		return "", ErrEmptyMessage
	case !utf8.ValidString(body) || strings.ContainsRune(body, 0):
		return "", ErrInvalid
	case utf8.RuneCountInString(body) > MaxMessageRunes:
		return "", ErrMessageTooLong
	}
	return body, nil
}

func (s *Service) addMessage(ctx context.Context, r *store.Request, dk []byte, author string, staffID int64, body string) error {
	body, err := CheckMessage(body)
	if err != nil {
		return err
	}
	m := &store.Message{ID: newID("m"), RequestID: r.ID, CreatedAt: s.now().UTC(), Author: author, StaffID: staffID}
	m.Body, err = keys.Encrypt(dk, []byte(body), adMessage(r.ID, m.ID)...)
	if err != nil {
		return err
	}
	action := "message.person"
	if author == store.AuthorStaff {
		action = "message.reply"
	}
	return s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.AddMessage(ctx, m); err != nil {
			return fmt.Errorf("intake: add message: %w", err)
		}
		if author == store.AuthorStaff && r.Status == store.StatusNew {
			if err := tx.SetStatus(ctx, r.ID, store.StatusInProgress, m.CreatedAt); err != nil {
				return fmt.Errorf("intake: status: %w", err)
			}
		}
		return audit.New(tx, s.now).Record(ctx, staffID, action, "request:"+r.ID)
	})
}

// PersonMessage adds a follow-up from the person; works while sealed.
func (s *Service) PersonMessage(ctx context.Context, a *Access, body string) error {
	r, err := s.st.GetRequest(ctx, a.RequestID)
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	return s.addMessage(ctx, r, a.dataKey, store.AuthorPerson, 0, body)
}
