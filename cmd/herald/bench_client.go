package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// benchClient drives the public API over HTTP, as a user's backend would.
type benchClient struct {
	base  string
	token string
	http  *http.Client
}

func newBenchClient(base, token string, conns int) *benchClient {
	tr := &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: time.Minute}
	return &benchClient{base: base, token: token, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *benchClient) do(ctx context.Context, method, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *benchClient) createApp(ctx context.Context, name string) (string, error) {
	body, _ := json.Marshal(map[string]any{"name": name})
	var out struct{ ID string }
	err := c.do(ctx, "POST", "/api/v1/app", body, http.StatusCreated, &out)
	return out.ID, err
}

func (c *benchClient) createEndpoint(ctx context.Context, appID, url string) (string, error) {
	body, _ := json.Marshal(map[string]any{"url": url})
	var out struct{ ID string }
	err := c.do(ctx, "POST", "/api/v1/app/"+appID+"/endpoint", body, http.StatusCreated, &out)
	return out.ID, err
}

// postMessage sends one message with payload (raw JSON) to appID.
func (c *benchClient) postMessage(ctx context.Context, appID string, payload []byte) error {
	body := make([]byte, 0, len(payload)+48)
	body = append(body, `{"eventType":"bench.event","payload":`...)
	body = append(body, payload...)
	body = append(body, '}')
	return c.do(ctx, "POST", "/api/v1/app/"+appID+"/msg", body, http.StatusAccepted, nil)
}
