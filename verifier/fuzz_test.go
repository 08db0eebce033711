package verifier

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/agentid/agentid/reason"
	"github.com/agentid/agentid/vc"
	"github.com/agentid/agentid/vc/jws"
)

// fuzzSeeds returns valid presentations and mutations of them.
func fuzzSeeds(e *env) []string {
	cred := e.credential(e.agent.DID, nil)
	valid := e.present(e.agent, cred, nil)
	noBinding := e.present(e.agent, cred, func(p *vc.Presentation) { p.Htm, p.Htu = "", "" })
	parts := strings.Split(valid, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i] ^= 0x20
		return string(b)
	}
	return []string{
		valid,
		noBinding,
		e.present(e.agent, "", nil),
		e.present(e.agent, cred, func(p *vc.Presentation) { p.Nonce = "n" }),
		e.present(e.agent, cred, func(p *vc.Presentation) { p.Exp = p.Iat + 3600 }),
		flip(valid, len(parts[0])/2),
		flip(valid, len(parts[0])+len(parts[1])/2),
		flip(valid, len(valid)-3),
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		parts[1] + "." + parts[0] + "." + parts[2],
		valid + ".x",
		cred,
		"",
		".",
		"..",
		"a.b.c",
		"eyJhbGciOiJub25lIn0.e30.",
	}
}

// FuzzVerify checks that no presentation string makes Verify panic, and
// that every refusal carries a reason code.
func FuzzVerify(f *testing.F) {
	e := newSeededEnv(f)
	for _, s := range fuzzSeeds(e) {
		f.Add(s)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string) {
		r, err := e.v.Verify(ctx, tok, req("calendar:read"))
		if err != nil {
			if _, ok := reason.CodeOf(err); !ok || r != nil {
				t.Fatalf("error without reason code (or with a result %v): %v", r, err)
			}
			return
		}
		if r == nil || r.Agent != e.agent.DID || r.Issuer != issuerDID {
			t.Fatalf("accepted with result %+v", r)
		}
	})
}

func payloadJSON(tok string) string {
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return string(b)
}

// FuzzVerifySigned fuzzes the payloads behind the signatures: the
// presentation payload (where "CRED" stands for the enveloped credential)
// and the credential payload are signed with the agent's and the trusted
// issuer's keys, so the checks after signature verification see arbitrary
// claims. Whatever is accepted must satisfy the verifier's guarantees.
func FuzzVerifySigned(f *testing.F) {
	e := newSeededEnv(f)
	cred := e.credential(e.agent.DID, nil)
	credPayload := payloadJSON(cred)
	vpPayload := strings.Replace(payloadJSON(e.present(e.agent, cred, nil)), cred, "CRED", 1)
	f.Add(vpPayload, credPayload)
	f.Add(strings.Replace(vpPayload, `"htm":"GET",`, "", 1), credPayload)
	f.Add(strings.Replace(vpPayload, `"jti"`, `"nbf":9223372036854775807,"jti"`, 1), credPayload)
	f.Add(vpPayload, strings.Replace(credPayload, `"credentialSubject":{`, `"credentialSubject":{"constraints":{"rateLimit":"1/s","timeWindow":{"start":"23:00","end":"01:00","tz":"Asia/Tokyo"},"sourceNetworks":["10.0.0.0/8"]},`, 1))
	f.Add(vpPayload, strings.Replace(credPayload, `"credentialStatus":[`, `"credentialStatus":[],"x":[`, 1))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, vp, cp string) {
		ctok, err := jws.Sign(e.issuer.Signer, vc.TypCredential, []byte(cp))
		if err != nil {
			t.Fatal(err)
		}
		ptok, err := jws.Sign(e.agent.Signer, vc.TypPresentation, []byte(strings.ReplaceAll(vp, "CRED", ctok)))
		if err != nil {
			t.Fatal(err)
		}
		// A fresh verifier each time, so that the replay cache does not
		// hide the later checks.
		v, err := New(WithKeyResolver(e.keys), WithTrustedIssuers(issuerDID), WithStatusChecker(e.status),
			WithClock(e.clock.Now), WithAudience(audience))
		if err != nil {
			t.Fatal(err)
		}
		r, err := v.Verify(ctx, ptok, req("calendar:read"))
		if err != nil {
			if _, ok := reason.CodeOf(err); !ok || r != nil {
				t.Fatalf("error without reason code (or with a result): %v", err)
			}
			return
		}
		now := e.now()
		c, p := r.Credential, r.Presentation
		switch {
		case r.Agent != e.agent.DID || r.Issuer != issuerDID || c.CredentialSubject.ID != p.HolderDID():
			t.Fatalf("accepted for the wrong parties: %+v", r)
		case !contains(r.Scopes, "calendar:read") || !contains(c.CredentialSubject.Audiences, audience) || !p.Aud.Contains(audience):
			t.Fatalf("accepted without scope or audience: %+v", r)
		case c.ValidUntil != nil && now.After(c.ValidUntil.Add(time.Minute)),
			c.ValidFrom != nil && now.Add(time.Minute).Before(*c.ValidFrom):
			t.Fatalf("accepted outside the credential's validity: %+v", c)
		case p.Jti == "" || p.Exp-p.Iat <= 0 || p.Exp-p.Iat > 300 || now.After(time.Unix(p.Exp, 0).Add(time.Minute)):
			t.Fatalf("accepted a presentation that is not fresh: %+v", p)
		}
	})
}
