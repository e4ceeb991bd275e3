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
}

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

export interface TableEventMap {
  add: CustomEvent<{ userId: string; stream: MediaStream }>;
  remove: CustomEvent<{ userId: string }>;
  member: CustomEvent<{ userId: string; state: MemberState; reason?: string; delayMs?: number }>;
}

export declare class TableWatcher extends EventTarget {
  constructor(roomId: string, options: TableOptions);
  readonly roomId: string;
  /** The members' streams that arrived, by Discord user id (each stream's id). */
  readonly streams: Map<string, MediaStream>;
  state(userId: string): MemberState | undefined;
  /** The WebRTC statistics of a member's session, or null while it has no connection. */
  stats(userId: string): Promise<RTCStatsReport | null>;
  start(): void;
  stop(): void;
  addEventListener<K extends keyof TableEventMap>(type: K, listener: (ev: TableEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof TableEventMap>(type: K, listener: (ev: TableEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** A started TableWatcher. */
export declare function watchRoom(roomId: string, options: TableOptions): TableWatcher;

/** Frames of a video track, as VideoFrame (close each) or ImageBitmap, one at a time. */
export declare function frames(
  track: MediaStreamTrack,
  onFrame: (frame: VideoFrame | ImageBitmap) => void | Promise<void>,
  options?: { maxFps?: number },
): { stop(): void };
