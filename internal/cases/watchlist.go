package cases

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/corridor-org/corridor/internal/audit"
	"github.com/corridor-org/corridor/internal/keys"
	"github.com/corridor-org/corridor/internal/store"
)

// The watch list holds phone numbers, handles and e-mail addresses known
// to be hostile (used by police posing as victims, by informers, by a
// family hunting a relative). It stores them only as blind indexes, so a
// seized database does not even tell which numbers the group knows about;
// the note that says why is encrypted under a key derived from the root
// key. A case whose identity matches is flagged as soon as it is written,
// and cases already open are flagged when the entry is added.

// ErrWatchListed: the identifier is already on the watch list.
var ErrWatchListed = fmt.Errorf("%w: already on the watch list", ErrInvalid)

// watchNoteLabel derives the key of watch-list notes from the wrapping
// key, so that no new purpose is needed in the key hierarchy and the
// notes die with the root key like everything else.
const watchNoteLabel = "corridor/v1/watch-note"

// WatchKinds are the kinds a watch-list entry may be of: identifiers an
// infiltrator uses to reach the group. A name with a birth year is not one.
func WatchKinds() []string {
	return []string{store.IndexPhone, store.IndexHandle, store.IndexEmail}
}

// WatchItem is a watch-list entry as shown to a coordinator: never the
// identifier itself, which is not stored.
type WatchItem struct {
	ID         string
	Kind       string
	CreatedAt  time.Time
	CreatedBy  int64
	Note       string
	Unreadable bool // the note did not decrypt
}

// MaxWatchNoteRunes bounds a watch-list note.
const MaxWatchNoteRunes = 2000

func normaliseWatch(kind, value string) (string, bool) {
	switch kind {
	case store.IndexPhone:
		return NormalisePhone(value)
	case store.IndexHandle:
		return NormaliseHandle(value)
	case store.IndexEmail:
		return NormaliseEmail(value)
	}
	return "", false
}

func (s *Service) watchNoteKey() ([]byte, error) {
	k, err := s.vault.Key(keys.PurposeWrap)
	if err != nil {
		return nil, fmt.Errorf("cases: watch note key: %w", err)
	}
	defer keys.Wipe(k)
	return keys.Subkey(k, watchNoteLabel), nil
}

func adWatch(id string) []string { return []string{"watch", id} }

// AddWatch puts an identifier on the watch list and flags every open case
// that holds it. Admins and coordinators only. It returns the entry's id.
func (s *Service) AddWatch(ctx context.Context, actor *store.User, kind, value, note string) (string, error) {
	if !active(actor) || !CanManage(actor.Role) {
		return "", ErrForbidden
	}
	if !slices.Contains(WatchKinds(), kind) {
		return "", fmt.Errorf("%w: unknown kind", ErrInvalid)
	}
	norm, ok := normaliseWatch(kind, value)
	if !ok {
		// The value is not repeated: it is a hostile identifier, and
		// errors end up in logs.
		return "", fmt.Errorf("%w: not a valid %s", ErrInvalid, kind)
	}
	note, err := cleanText(note, MaxWatchNoteRunes)
	if err != nil {
		return "", err
	}
	entries, err := s.blindValues([]IndexValue{{kind, norm}})
	if err != nil {
		return "", err
	}
	now := s.clock()
	w := &store.WatchEntry{ID: newID("w"), Kind: kind, Value: entries[0].Value, CreatedAt: now, CreatedBy: actor.ID}
	if note != "" {
		k, err := s.watchNoteKey()
		if err != nil {
			return "", err
		}
		w.Note, err = keys.Encrypt(k, []byte(note), adWatch(w.ID)...)
		keys.Wipe(k)
		if err != nil {
			return "", fmt.Errorf("cases: encrypt watch note: %w", err)
		}
	}
	err = s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.AddWatch(ctx, w); errors.Is(err, store.ErrConflict) {
			return ErrWatchListed
		} else if err != nil {
			return fmt.Errorf("cases: add watch: %w", err)
		}
		if err := audit.New(tx, s.now).Record(ctx, actor.ID, "watch.add", "watch:"+w.ID); err != nil {
			return err
		}
		// Cases opened before the entry was added are flagged now.
		matches, err := tx.FindCases(ctx, entries, 10000)
		if err != nil {
			return fmt.Errorf("cases: find cases: %w", err)
		}
		for _, m := range matches {
			c, err := tx.GetCase(ctx, m.CaseID)
			if err != nil {
				return fmt.Errorf("cases: case %s: %w", m.CaseID, err)
			}
			if !c.ErasedAt.IsZero() {
				continue
			}
			if err := s.watchFlag(ctx, tx, c, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return w.ID, nil
}

// ListWatch returns the watch list with its notes decrypted, oldest
// first. Admins and coordinators only; audited as watch.read.
func (s *Service) ListWatch(ctx context.Context, actor *store.User) ([]WatchItem, error) {
	if !active(actor) || !CanManage(actor.Role) {
		return nil, ErrForbidden
	}
	k, err := s.watchNoteKey()
	if err != nil {
		return nil, err
	}
	defer keys.Wipe(k)
	list, err := s.st.ListWatch(ctx)
	if err != nil {
		return nil, fmt.Errorf("cases: watch list: %w", err)
	}
	if err := s.audit.Record(ctx, actor.ID, "watch.read", "watch"); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	out := make([]WatchItem, 0, len(list))
	for _, w := range list {
		it := WatchItem{ID: w.ID, Kind: w.Kind, CreatedAt: w.CreatedAt, CreatedBy: w.CreatedBy}
		if w.Note != nil {
			pt, err := keys.Decrypt(k, w.Note, adWatch(w.ID)...)
			if err != nil {
				it.Unreadable = true
			} else {
				it.Note = string(pt)
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// DeleteWatch removes a watch-list entry. Flags it raised stay: clearing
// a flag is a coordinator's decision on each case.
func (s *Service) DeleteWatch(ctx context.Context, actor *store.User, id string) error {
	if !active(actor) || !CanManage(actor.Role) {
		return ErrForbidden
	}
	if !validID(id) {
		return fmt.Errorf("%w: %w", ErrNotFound, store.ErrNotFound)
	}
	return s.st.Tx(ctx, func(tx store.Store) error {
		if err := tx.DeleteWatch(ctx, id); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		} else if err != nil {
			return fmt.Errorf("cases: delete watch: %w", err)
		}
		return audit.New(tx, s.now).Record(ctx, actor.ID, "watch.delete", "watch:"+id)
	})
}
