// Types of coven-table.js: table view, a room's cameras and voices in the page (docs/table.md).

import type { RoomState } from './coven-projection.js';

/** Where one member's session stands. */
export type MemberState = 'connecting' | 'live' | 'camera-unavailable' | 'retrying' | 'refused';

/** Tunables, in milliseconds except baseUrl. */
export interface TableTunables {
  baseUrl: string;
  gatherTimeoutMs: number;
  videoGraceMs: number;
  disconnectedMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** How often the room's published sources (board cameras) are listed. */
  sourcesIntervalMs: number;
}

/** What a source is: a member's Discord camera and voice, or the board camera they publish. */
export type SourceKind = 'camera' | 'board';

/** The key of a source: the user id for a member's camera, `${userId}:${kind}` otherwise. */
export declare function sourceKey(userId: string, kind?: SourceKind): string;

export declare const TABLE_DEFAULTS: Readonly<TableTunables>;

export interface TableOptions extends Partial<TableTunables> {
  /** The CovenClient whose rooms say who is in the room. */
  client: EventTarget & { readonly rooms: RoomState[] };
  /** Returns the bearer token. */
  tokenProvider: () => Promise<string> | string;
  /** The viewer's Discord id, left out of the table. */
  selfId?: string;
  fetch?: typeof fetch;
  RTCPeerConnection?: typeof RTCPeerConnection;
}

/** Which source an event is about. */
export interface SourceRef {
  userId: string;
  kind: SourceKind;
  key: string;
}

export interface TableEventMap {
  add: CustomEvent<SourceRef & { stream: MediaStream }>;
  remove: CustomEvent<SourceRef>;
  member: CustomEvent<SourceRef & { state: MemberState; reason?: string; delayMs?: number }>;
}

export declare class TableWatcher extends EventTarget {
  constructor(roomId: string, options: TableOptions);
  readonly roomId: string;
  /** The sources' streams that arrived, by key (a member's camera: their Discord user id). */
  readonly streams: Map<string, MediaStream>;
  /** A source's state, by key. */
  state(key: string): MemberState | undefined;
  /** The WebRTC statistics of a source's session, by key, or null while it has no connection. */
  stats(key: string): Promise<RTCStatsReport | null>;
  start(): void;
  stop(): void;
  addEventListener<K extends keyof TableEventMap>(type: K, listener: (ev: TableEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof TableEventMap>(type: K, listener: (ev: TableEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** Where a board camera's publishing stands. */
export type PublishState = 'connecting' | 'live' | 'retrying' | 'refused' | 'stopped';

export interface PublishOptions extends Partial<TableTunables> {
  /** Returns the bearer token. */
  tokenProvider: () => Promise<string> | string;
  /** The source kind published (default 'board'). */
  kind?: 'board';
  fetch?: typeof fetch;
  RTCPeerConnection?: typeof RTCPeerConnection;
}

export interface PublishEventMap {
  state: CustomEvent<{ state: PublishState; reason?: string; delayMs?: number }>;
}

/** Publishes a camera into a room with WHIP, as the caller's board camera. */
export declare class BoardPublisher extends EventTarget {
  constructor(roomId: string, stream: MediaStream, options: PublishOptions);
  readonly roomId: string;
  readonly stream: MediaStream;
  readonly state: PublishState;
  /** The WHIP endpoint. */
  readonly endpoint: string;
  /** The WebRTC statistics of the session, or null while it has no connection. */
  stats(): Promise<RTCStatsReport | null>;
  start(): Promise<void>;
  /** Ends the session (DELETE); the stream's tracks stay the caller's. */
  stop(): void;
  addEventListener<K extends keyof PublishEventMap>(type: K, listener: (ev: PublishEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof PublishEventMap>(type: K, listener: (ev: PublishEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** A started BoardPublisher. */
export declare function publishBoard(roomId: string, stream: MediaStream, options: PublishOptions): BoardPublisher;

/** A started TableWatcher. */
export declare function watchRoom(roomId: string, options: TableOptions): TableWatcher;

/** Frames of a video track, as VideoFrame (close each) or ImageBitmap, one at a time. */
export declare function frames(
  track: MediaStreamTrack,
  onFrame: (frame: VideoFrame | ImageBitmap) => void | Promise<void>,
  options?: { maxFps?: number },
): { stop(): void };
