import { useCallback, useEffect, useMemo, useState } from 'react';
import { api, ApiError, errorMessage, onSignedOut, setCsrfToken } from './api/client.js';
import type { Session } from './api/types.js';
import { Layout } from './components/Layout.js';
import { OutputsPage } from './pages/OutputsPage.js';
import { SignInPage } from './pages/SignInPage.js';
import { SubmitPage } from './pages/SubmitPage.js';
import { TaskPage } from './pages/TaskPage.js';
import { TasksPage } from './pages/TasksPage.js';
import { WorkersPage } from './pages/WorkersPage.js';
import { navigate, Redirect, useLocation } from './router.js';
import { SessionContext } from './session.js';

type SessionState = { kind: 'loading' } | { kind: 'signed-out'; error?: string } | { kind: 'signed-in'; session: Session };

export function App() {
  const [state, setState] = useState<SessionState>({ kind: 'loading' });
  const location = useLocation();

  const signedIn = useCallback((session: Session) => {
    setCsrfToken(session.csrfToken);
    setState({ kind: 'signed-in', session });
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    api<Session>('/session', { signal: controller.signal })
      .then(signedIn)
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        setState(err instanceof ApiError && err.status === 401 ? { kind: 'signed-out' } : { kind: 'signed-out', error: errorMessage(err) });
      });
    return () => controller.abort();
  }, [signedIn]);

  useEffect(
    () =>
      onSignedOut(() => {
        setCsrfToken(undefined);
        setState({ kind: 'signed-out', error: 'Your session has ended. Sign in again.' });
      }),
    [],
  );

  const signOut = useCallback(async () => {
    try {
      await api('/session', { method: 'DELETE' });
    } finally {
      setCsrfToken(undefined);
      setState({ kind: 'signed-out' });
      navigate('/sign-in');
    }
  }, []);

  const context = useMemo(() => (state.kind === 'signed-in' ? { session: state.session, signOut } : undefined), [state, signOut]);

  if (state.kind === 'loading') return <p className="loading" role="status">Loading…</p>;
  if (state.kind === 'signed-out' || !context) {
    return (
      <SignInPage
        error={state.kind === 'signed-out' ? state.error : undefined}
        onSignedIn={(session) => {
          signedIn(session);
          if (location.pathname === '/sign-in' || location.pathname === '/') navigate('/tasks', { replace: true });
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={context}>
      <Layout>{route(location.pathname)}</Layout>
    </SessionContext.Provider>
  );
}

function route(pathname: string) {
  if (pathname === '/' || pathname === '/sign-in') return <Redirect to="/tasks" />;
  if (pathname === '/tasks') return <TasksPage />;
  if (pathname === '/submit') return <SubmitPage />;
  if (pathname === '/outputs') return <OutputsPage />;
  if (pathname === '/workers') return <WorkersPage />;
  const task = /^\/tasks\/([^/]+)$/.exec(pathname);
  if (task?.[1]) return <TaskPage key={task[1]} taskId={decodeURIComponent(task[1])} />;
  return (
    <section>
      <h1>Page not found</h1>
      <p>There is no page at this address.</p>
    </section>
  );
}
