import { createContext, useContext } from 'react';
import type { Session } from './api/types.js';

export interface SessionContextValue {
  session: Session;
  signOut: () => Promise<void>;
}

export const SessionContext = createContext<SessionContextValue | undefined>(undefined);

/** The signed-in user; only rendered inside the signed-in layout. */
export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside a signed-in page');
  return value;
}
