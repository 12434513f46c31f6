import { afterEach, describe, expect, test, vi } from "vitest";
import { render } from "vitest-browser-svelte";
import type { AppInfo } from "../lib/backend";
import { argsOf, clearMocks, deferred, fail, fakeBackend, rejectWith } from "../test/ipc";
import { expectAccessible } from "../test/axe";
import SignIn from "./SignIn.svelte";

const WRONG_PASSWORD = "The user name or password is wrong; check them and sign in again.";
const UNREACHABLE = "The server cannot be reached; check the address and your connection, then try again.";

const signedOut: AppInfo = { server: null, server_locked: false, signed_in: false, user: null, role: null, pricing_day: "2025-06-15" };

afterEach(() => clearMocks());

async function signIn(user: string, password: string, info = signedOut) {
  const onSignedIn = vi.fn();
  const screen = await render(SignIn, { info, onSignedIn });
  await screen.getByLabelText("User name").fill(user);
  await screen.getByLabelText("Password").fill(password);
  await screen.getByRole("button", { name: "Sign in" }).click();
  return { screen, onSignedIn };
}

describe("SignIn", () => {
  test("a wrong password shows the server's one sentence, keeps the user signed out and empties the password for another try", async () => {
    const calls = fakeBackend({ sign_in: () => fail("wrong_credentials", WRONG_PASSWORD) });

    const { screen, onSignedIn } = await signIn("anna", "not-her-password");

    await expect.element(screen.getByRole("alert")).toHaveTextContent(WRONG_PASSWORD);
    expect(screen.getByRole("alert").elements()).toHaveLength(1);
    await expect.element(screen.getByRole("button", { name: "Sign in" })).toBeEnabled();
    expect(onSignedIn).not.toHaveBeenCalled();
    expect(argsOf(calls, "sign_in")).toEqual([
      { server: "http://127.0.0.1:8787", user: "anna", password: "not-her-password" },
    ]);
    await expect.element(screen.getByLabelText("Password")).toHaveValue("");
    await expect.element(screen.getByLabelText("Password")).toHaveFocus();
  });

  test("an unreachable server says so, and a second attempt replaces the message", async () => {
    let reply = UNREACHABLE;
    // The engine's own words for an unreachable server are technical; the app says it its way.
    fakeBackend({
      sign_in: () =>
        reply === UNREACHABLE ? fail("unreachable", "error sending request for url (http://127.0.0.1:8787/v1/login)") : fail("wrong_credentials", reply),
    });

    const { screen } = await signIn("anna", "secret");
    await expect.element(screen.getByRole("alert")).toHaveTextContent(UNREACHABLE);

    reply = WRONG_PASSWORD;
    await screen.getByRole("button", { name: "Sign in" }).click();
    await expect.element(screen.getByRole("alert")).toHaveTextContent(WRONG_PASSWORD);
    expect(screen.getByRole("alert").elements()).toHaveLength(1);
  });

  test("an error without a message still reads as a sentence", async () => {
    fakeBackend({ sign_in: () => rejectWith({ code: "internal" }) });

    const { screen } = await signIn("anna", "secret");

    await expect.element(screen.getByRole("alert")).toHaveTextContent("Something went wrong; try again.");
  });

  test("while signing in the button is busy; on success the screen hands over", async () => {
    const reply = deferred<unknown>();
    fakeBackend({ sign_in: () => reply.promise });

    const { screen, onSignedIn } = await signIn("anna", "secret");

    await expect.element(screen.getByRole("button", { name: "Signing in…" })).toBeDisabled();
    reply.resolve({ user: "anna", role: "rep" });
    await expect.poll(() => onSignedIn.mock.calls.length).toBe(1);
    await expect.element(screen.getByLabelText("Password")).toHaveValue("");
    expect(screen.getByRole("alert").elements()).toHaveLength(0);
  });

  test("a server address set by the administrator cannot be edited", async () => {
    const locked: AppInfo = { ...signedOut, server: "https://sync.example.com", server_locked: true };
    fakeBackend({ sign_in: () => ({ user: "anna", role: "rep" }) });

    const { screen, onSignedIn } = await signIn("anna", "secret", locked);

    await expect.element(screen.getByLabelText("Server")).toBeDisabled();
    await expect.element(screen.getByLabelText("Server")).toHaveValue("https://sync.example.com");
    await expect.poll(() => onSignedIn.mock.calls.length).toBe(1);
  });
});

describe("SignIn on a shared computer", () => {
  test("says whose changes wait here, and signs another user in all the same", async () => {
    const calls = fakeBackend({
      waiting_changes: () => [
        { server: "http://127.0.0.1:8787", user: "rep1", pending: 2, needs_attention: 1 },
        { server: "https://old.example.com", user: "rep2", pending: 1, needs_attention: 0 },
      ],
      sign_in: () => ({}),
    });
    const info: AppInfo = { ...signedOut, user: "rep1" };
    const onSignedIn = vi.fn();
    const screen = await render(SignIn, { info, onSignedIn });

    const waiting = screen.getByTestId("waiting-changes");
    await expect.element(waiting).toHaveTextContent("rep1: 2 changes not synced yet and 1 rejected change to fix");
    await expect.element(waiting).toHaveTextContent("rep2 on https://old.example.com: 1 change not synced yet");
    // The last user is pre-filled; someone else replaces the name and signs in.
    await expect.element(screen.getByLabelText("User name")).toHaveValue("rep1");
    await screen.getByLabelText("User name").fill("rep3");
    await screen.getByLabelText("Password").fill("secret");
    await screen.getByRole("button", { name: "Sign in" }).click();
    await vi.waitFor(() => expect(onSignedIn).toHaveBeenCalled());
    expect(argsOf(calls, "sign_in")).toEqual([{ server: "http://127.0.0.1:8787", user: "rep3", password: "secret" }]);
    await expectAccessible();
  });
});
