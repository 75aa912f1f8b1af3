package crypto

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MetaKey is the one metadata entry a sealed request carries.
const MetaKey = "locksmith.sealed"

// sealVersion starts every sealed value.
const sealVersion = "v1"

var (
	// ErrUnknownKey: a value was sealed with a key that is not configured.
	ErrUnknownKey = errors.New("crypto: sealed with a key that is not configured")
	// ErrOpen: a value does not open with its key: a wrong key of the same
	// id cannot happen, so the value was tampered with, or moved from
	// another resource.
	ErrOpen = errors.New("crypto: sealed metadata does not open (tampered with, or moved from another resource)")
)

// seal encrypts meta for resource with the current key: the metadata
// becomes {MetaKey: "v1:<key id>:<base64 nonce+ciphertext>"}. The resource
// is the additional data, so a value copied to another resource does not
// open.
func (kr keyring) seal(resource string, meta map[string]string) (map[string]string, error) {
	plain, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	k := kr.current
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal metadata of %s: %w", resource, err)
	}
	ct := k.aead.Seal(nonce, nonce, plain, []byte(resource))
	return map[string]string{MetaKey: sealVersion + ":" + k.id + ":" + base64.RawStdEncoding.EncodeToString(ct)}, nil
}

// open decrypts what seal made of resource's metadata; metadata that was
// not sealed is returned as it is.
func (kr keyring) open(resource string, meta map[string]string) (map[string]string, error) {
	v, ok := meta[MetaKey]
	if !ok {
		return meta, nil
	}
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 || parts[0] != sealVersion {
		return nil, fmt.Errorf("open metadata of %s: %w: not a %s value", resource, ErrOpen, sealVersion)
	}
	k, ok := kr.byID[parts[1]]
	if !ok {
		return nil, fmt.Errorf("open metadata of %s: %w: key id %s (configure it under old_key_files or old_key_envs)", resource, ErrUnknownKey, parts[1])
	}
	raw, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < k.aead.NonceSize() {
		return nil, fmt.Errorf("open metadata of %s: %w", resource, ErrOpen)
	}
	plain, err := k.aead.Open(nil, raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():], []byte(resource))
	if err != nil {
		return nil, fmt.Errorf("open metadata of %s: %w (key id %s)", resource, ErrOpen, k.id)
	}
	var out map[string]string
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("open metadata of %s: %w: %v", resource, ErrOpen, err)
	}
	return out, nil
}
