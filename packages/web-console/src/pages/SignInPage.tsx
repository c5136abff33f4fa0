import { type FormEvent, useState } from 'react';
import { api, errorMessage } from '../api/client.js';
import type { Session } from '../api/types.js';

/** Paste an API token once; the server answers with an HttpOnly session cookie and a CSRF token. */
export function SignInPage({ error, onSignedIn }: { error?: string; onSignedIn: (session: Session) => void }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState<string | undefined>(error);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setProblem(undefined);
    try {
      onSignedIn(await api<Session>('/session', { method: 'POST', body: { token: token.trim() } }));
    } catch (err) {
      setProblem(errorMessage(err));
      setBusy(false);
    }
  };

  return (
    <main id="main" className="sign-in">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Sign in to cloudai</h1>
        <p>
          Paste an API token (<code>cloudai login</code> prints one; an admin makes one with <code>cloudai users add</code>). It is sent
          once; the browser then keeps only a session cookie.
        </p>
        <label htmlFor="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          required
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? 'sign-in-error' : undefined}
        />
        {problem && (
          <p id="sign-in-error" className="field-error" role="alert">
            {problem}
          </p>
        )}
        <button type="submit" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}
