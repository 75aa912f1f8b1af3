package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/locksmithx/locksmith/sdk"
)

// Config is the plugin's config section. Exactly one of KeyFile and KeyEnv
// names the current key.
type Config struct {
	// KeyFile holds the current key: 64 hex digits on one line.
	KeyFile string `json:"key_file"`
	// KeyEnv names an environment variable holding the current key.
	KeyEnv string `json:"key_env"`
	// OldKeyFiles and OldKeyEnvs hold keys that still decrypt what they
	// encrypted before a rotation, but encrypt nothing.
	OldKeyFiles []string `json:"old_key_files"`
	OldKeyEnvs  []string `json:"old_key_envs"`
}

// key is one AES-256-GCM key and its id.
type key struct {
	id   string
	aead cipher.AEAD
}

// keyring is the current key and every key that decrypts.
type keyring struct {
	current key
	byID    map[string]key
}

// loadKeys reads the keys cfg names; errors name the key path and never
// show key material.
func loadKeys(cfg sdk.Config) (keyring, error) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return keyring{}, err
	}
	if (c.KeyFile == "") == (c.KeyEnv == "") {
		return keyring{}, sdk.Errorf(sdk.CodeInvalidConfig, "key_file, key_env: set exactly one (the current key)")
	}
	kr := keyring{byID: map[string]key{}}
	add := func(where, text string) (key, error) {
		k, err := parseKey(text)
		if err != nil {
			return key{}, sdk.Errorf(sdk.CodeInvalidConfig, "%s: %v", where, err)
		}
		kr.byID[k.id] = k
		return k, nil
	}
	read := func(where, file string) (string, error) {
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", sdk.Errorf(sdk.CodeInvalidConfig, "%s: read key: %v", where, err)
		}
		return string(raw), nil
	}
	env := func(where, name string) (string, error) {
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", sdk.Errorf(sdk.CodeInvalidConfig, "%s: environment variable %s is not set", where, name)
		}
		return v, nil
	}
	var text string
	var err error
	where := "key_file"
	if c.KeyFile != "" {
		text, err = read(where, c.KeyFile)
	} else {
		where = "key_env"
		text, err = env(where, c.KeyEnv)
	}
	if err != nil {
		return keyring{}, err
	}
	if kr.current, err = add(where, text); err != nil {
		return keyring{}, err
	}
	for i, f := range c.OldKeyFiles {
		w := fmt.Sprintf("old_key_files[%d]", i)
		if text, err = read(w, f); err == nil {
			_, err = add(w, text)
		}
		if err != nil {
			return keyring{}, err
		}
	}
	for i, e := range c.OldKeyEnvs {
		w := fmt.Sprintf("old_key_envs[%d]", i)
		if text, err = env(w, e); err == nil {
			_, err = add(w, text)
		}
		if err != nil {
			return keyring{}, err
		}
	}
	return kr, nil
}

// parseKey reads 64 hex digits (surrounding white space allowed).
func parseKey(text string) (key, error) {
	raw, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != 32 {
		return key{}, fmt.Errorf("not a 256-bit key (want 64 hex digits on one line)")
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	sum := sha256.Sum256(raw)
	return key{id: hex.EncodeToString(sum[:4]), aead: aead}, nil
}
