package intake

import (
	"strings"
	"testing"
)

func TestDefaultFormParses(t *testing.T) {
	f := DefaultForm()
	if f.UrgencyQuestion != "urgency" || f.Question("what_happened") == nil {
		t.Fatalf("default form = %+v", f)
	}
	for _, q := range f.Questions {
		if q.Label.In("ru") == q.Label.In("en") {
			t.Errorf("question %s lacks a Russian label", q.ID)
		}
	}
}

func TestParseFormRejects(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"empty", ``, "no questions"},
		{"unknown key", "[[questions]]\nid=\"a\"\ntype=\"text\"\nlabel={en=\"A\"}\ncolour=\"red\"", "unknown setting"},
		{"bad id", "[[questions]]\nid=\"A b\"\ntype=\"text\"\nlabel={en=\"A\"}", "id"},
		{"dup", "[[questions]]\nid=\"a\"\ntype=\"text\"\nlabel={en=\"A\"}\n[[questions]]\nid=\"a\"\ntype=\"text\"\nlabel={en=\"A\"}", "twice"},
		{"no label", "[[questions]]\nid=\"a\"\ntype=\"text\"", "no label"},
		{"bad type", "[[questions]]\nid=\"a\"\ntype=\"file\"\nlabel={en=\"A\"}", "unknown type"},
		{"choice without options", "[[questions]]\nid=\"a\"\ntype=\"choice\"\nlabel={en=\"A\"}", "options"},
		{"options on text", "[[questions]]\nid=\"a\"\ntype=\"text\"\nlabel={en=\"A\"}\n[[questions.options]]\nvalue=\"x\"\nlabel={en=\"X\"}", "options only"},
		{"bad urgency", "[[questions]]\nid=\"a\"\ntype=\"choice\"\nlabel={en=\"A\"}\n[[questions.options]]\nvalue=\"x\"\nurgency=7\nlabel={en=\"X\"}", "urgency"},
		{"urgency on text", "urgency_question=\"a\"\n[[questions]]\nid=\"a\"\ntype=\"text\"\nlabel={en=\"A\"}", "urgency_question"},
		{"syntax", "[[questions", "form"},
		{"reserved", "[[questions]]\nid=\"website\"\ntype=\"text\"\nlabel={en=\"A\"}", "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseForm([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

const testForm = `
urgency_question = "u"
[[questions]]
id = "t"
type = "text"
required = true
max_length = 5
label = { en = "T" }
[[questions]]
id = "l"
type = "longtext"
label = { en = "L" }
[[questions]]
id = "u"
type = "choice"
label = { en = "U" }
  [[questions.options]]
  value = "hi"
  urgency = 3
  label = { en = "High" }
  [[questions.options]]
  value = "lo"
  label = { en = "Low" }
[[questions]]
id = "m"
type = "multichoice"
label = { en = "M" }
  [[questions.options]]
  value = "a"
  label = { en = "A" }
  [[questions.options]]
  value = "b"
  label = { en = "B" }
[[questions]]
id = "d"
type = "date"
label = { en = "D" }
[[questions]]
id = "n"
type = "number"
min = 0
max = 120
label = { en = "N" }
`

func TestParseAnswers(t *testing.T) {
	f, err := ParseForm([]byte(testForm))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		values map[string][]string
		probs  map[string]string
	}{
		{"ok", map[string][]string{"t": {" abc "}, "u": {"hi"}, "m": {"a", "b"}, "d": {"2017-04-01"}, "n": {"33,5"}}, nil},
		{"required", map[string][]string{"t": {"   "}}, map[string]string{"t": ProblemRequired}},
		{"too long runes", map[string][]string{"t": {"щщщщщщ"}}, map[string]string{"t": ProblemTooLong}},
		{"five cyrillic ok", map[string][]string{"t": {"щщщщщ"}}, nil},
		{"newline in text", map[string][]string{"t": {"a\nb"}}, map[string]string{"t": ProblemEncoding}},
		{"bad utf8", map[string][]string{"t": {"\xff"}}, map[string]string{"t": ProblemEncoding}},
		{"two values", map[string][]string{"t": {"a", "b"}}, map[string]string{"t": ProblemTooMany}},
		{"bad choice", map[string][]string{"t": {"a"}, "u": {"zz"}}, map[string]string{"u": ProblemChoice}},
		{"dup multichoice", map[string][]string{"t": {"a"}, "m": {"a", "a"}}, map[string]string{"m": ProblemChoice}},
		{"bad date", map[string][]string{"t": {"a"}, "d": {"01.04.2017"}}, map[string]string{"d": ProblemDate}},
		{"date range", map[string][]string{"t": {"a"}, "d": {"1200-01-01"}}, map[string]string{"d": ProblemRange}},
		{"bad number", map[string][]string{"t": {"a"}, "n": {"many"}}, map[string]string{"n": ProblemNumber}},
		{"number range", map[string][]string{"t": {"a"}, "n": {"121"}}, map[string]string{"n": ProblemRange}},
		{"unknown fields ignored", map[string][]string{"t": {"a"}, "evil": {"x"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ans, probs := f.Parse(tc.values)
			if len(probs) != len(tc.probs) {
				t.Fatalf("problems = %v, want %v", probs, tc.probs)
			}
			for k, v := range tc.probs {
				if probs[k] != v {
					t.Errorf("problem %s = %q, want %q", k, probs[k], v)
				}
			}
			if _, ok := ans["evil"]; ok {
				t.Error("unknown field kept")
			}
		})
	}
	ans, _ := f.Parse(map[string][]string{"t": {"x"}, "u": {"hi"}})
	if f.Urgency(ans) != 3 {
		t.Errorf("urgency = %d", f.Urgency(ans))
	}
	if f.Urgency(Answers{}) != 0 {
		t.Error("no answer should be urgency 0")
	}
}

func FuzzParse(f *testing.F) {
	form := DefaultForm()
	f.Add("what", "immediate", "Grozny", "ru")
	f.Add("", "", "", "")
	f.Add("\xff\x00", "days\x00", strings.Repeat("a", 200), "zz")
	f.Fuzz(func(t *testing.T, what, urgency, loc, lang string) {
		ans, probs := form.Parse(map[string][]string{"what_happened": {what}, "urgency": {urgency}, "location": {loc}, "languages": {lang, urgency}})
		for id, vals := range ans {
			q := form.Question(id)
			if q == nil {
				t.Fatalf("answer for unknown question %q", id)
			}
			if _, bad := probs[id]; bad {
				t.Fatalf("%s both answered and refused", id)
			}
			if p := q.check(vals); p != "" {
				t.Fatalf("accepted answer fails its own check: %s %q", id, vals)
			}
		}
		if lvl := form.Urgency(ans); lvl < 0 || lvl > 3 {
			t.Fatalf("urgency %d", lvl)
		}
	})
}
