// Types of coven-client.js: the browser client of the Spell Coven event stream (docs/web.md).

import type { CovenEvent, RoomState } from './coven-projection.js';

export type { CovenEvent, Member, Room, RoomState, EventType } from './coven-projection.js';
export { Projection, EVENT_TYPES, compareSnowflakes } from './coven-projection.js';

/** A token from the token provider; expiresAt is milliseconds since the epoch or a Date. */
export interface Token {
  token: string;
  expiresAt?: number | Date;
}

/** Why the client asks for a token. */
export type TokenReason = 'connect' | 'reconnect' | 'refresh' | 'unauthorized' | 'expired';

/** Where the client stands with the edge. */
export type Status = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'resumed' | 'snapshot' | 'closed';

/** A position in the event stream. */
export interface Position {
  epoch: string;
  seq: number;
}

/** Close codes of the stream (docs/protocol.md, "Errors and close codes"). */
export declare const CloseCode: Readonly<{
  POLICY_VIOLATION: 1008;
  MESSAGE_TOO_BIG: 1009;
  RESTARTING: 1012;
  TRY_AGAIN_LATER: 1013;
  UNAUTHORIZED: 4001;
  NO_AUTH: 4002;
  TOKEN_EXPIRED: 4003;
  TOO_MANY_STREAMS: 4005;
  TOO_SLOW: 4008;
  RATE_LIMITED: 4029;
}>;

/** Tunables, in milliseconds except backoffFactor and jitter. */
export interface Tunables {
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffFactor: number;
  jitter: number;
  policyRetryMs: number;
  limitRetryMs: number;
  stableAfterMs: number;
  refreshMarginMs: number;
  minRefreshDelayMs: number;
  handshakeTimeoutMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
}

export declare const DEFAULT_OPTIONS: Readonly<Tunables>;

export interface ClientOptions extends Partial<Tunables> {
  /** The stream's ws: or wss: URL. */
  url: string;
  tokenProvider: (reason: TokenReason) => Promise<Token> | Token;
  /** Default: the global WebSocket. */
  WebSocket?: typeof WebSocket;
  /** Default: Math.random; draws the jitter. */
  random?: () => number;
  /** Where the 'online' and 'offline' events are heard; default the global window, null for nowhere. */
  network?: EventTarget | null;
}

/** An error frame, refused message or token provider failure. Never holds the token. */
export interface ClientError {
  code: string;
  message: string;
  closeCode?: number;
}

export interface StatusDetail {
  status: Status;
  code?: number;
  reason?: string;
  error?: ClientError | null;
  delayMs?: number;
  attempt?: number;
}

export interface EventDetail {
  event: CovenEvent;
  /** '' or what did not fit the state. */
  mismatch: string;
}

export interface StateDetail {
  cause: 'snapshot' | 'events';
  events: CovenEvent[];
}

export interface BrokerDetail {
  broker: 'ok' | 'unavailable';
}

/** The events a CovenClient dispatches, by type. */
export interface CovenClientEventMap {
  status: CustomEvent<StatusDetail>;
  event: CustomEvent<EventDetail>;
  state: CustomEvent<StateDetail>;
  broker: CustomEvent<BrokerDetail>;
  error: CustomEvent<ClientError>;
}

export interface ClientState {
  status: Status;
  position: Position | null;
  discord: string;
  broker: '' | 'ok' | 'unavailable';
  stateKnown: boolean;
  rooms: RoomState[];
  lastError: ClientError | null;
}

/** Keeps a live copy of the rooms and their members from the edge's event stream. */
export declare class CovenClient extends EventTarget {
  constructor(options: ClientOptions);
  readonly status: Status;
  /** Whether the stream is up and the state current. */
  readonly connected: boolean;
  readonly position: Position | null;
  /** The rooms with their members, in display order. Do not modify them. */
  readonly rooms: RoomState[];
  /** The worker's Discord link: "up", "reconnecting", "down", or "". */
  readonly discord: string;
  readonly broker: '' | 'ok' | 'unavailable';
  /** Whether the rooms are known; false while the edge holds nothing from Discord yet. */
  readonly stateKnown: boolean;
  readonly lastError: ClientError | null;
  readonly state: ClientState;
  /** Starts connecting; after close() connects again, resuming. */
  start(): void;
  /** Resolves once the stream is up; rejects on close() or after timeoutMs. */
  ready(timeoutMs?: number): Promise<ClientState>;
  /** Drops the connection and reconnects at once. */
  reconnect(): void;
  /** Closes the stream and stops every timer. */
  close(): void;

  addEventListener<K extends keyof CovenClientEventMap>(
    type: K, listener: (this: CovenClient, ev: CovenClientEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof CovenClientEventMap>(
    type: K, listener: (this: CovenClient, ev: CovenClientEventMap[K]) => any, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** The exp claim of a JWT in milliseconds since the epoch, or undefined. Decodes only; never verifies. */
export declare function jwtExpiry(token: string): number | undefined;
