package miko_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	miko "github.com/miko-dev/miko/sdk/go"
)

// Calling a service by name: the host of the URL is the service.
func Example() {
	client, err := miko.New("http://127.0.0.1:8740") // or "" for MIKO_ADDRESS
	if err != nil {
		log.Fatal(err) // ErrInvalidAddress
	}
	defer client.Close()

	resp, err := client.HTTPClient().Get("http://hanami/orders/7")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
}

// Picking an endpoint yourself, for protocols other than HTTP.
func ExampleClient_Pick() {
	client, err := miko.New("127.0.0.1:8740", miko.WithToken("internal-token"), miko.WithAddressKind(miko.Internal))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ep, err := client.Pick(ctx, "postgres")
	switch {
	case errors.Is(err, miko.ErrUnknownService), errors.Is(err, miko.ErrNoHealthyEndpoint):
		log.Fatal(err) // names the service
	case errors.Is(err, miko.ErrUnauthorized), errors.Is(err, miko.ErrUnreachable):
		log.Fatal(err)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("connecting to", ep.Address)
}

// Registering this process, with heartbeats every ttl/3 until Close.
func ExampleClient_Register() {
	client, err := miko.New("127.0.0.1:8740", miko.WithToken("register-token"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close() // deregisters

	_, err = client.Register(context.Background(), "hanami", miko.Registration{
		PublicAddress: "http://10.0.0.5:8080",
		Zone:          "eu-1",
	}, 15*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(":8080", nil))
}
