// Types of coven-projection.js: the rooms and members the event stream describes (docs/protocol.md).

/** A voice channel under the rooms category. */
export interface Room {
  /** Discord snowflake. */
  id: string;
  name: string;
  /** 0 means no limit. */
  user_limit: number;
  /** Discord's display order. */
  position: number;
  /** Discord user id of the member who created the room through the API. */
  owner_id?: string;
  /** Set while the room's owner has table view on (docs/table.md). */
  table_view?: boolean;
}

/** A user in a room's voice channel and the state of their microphone, camera and stream. */
export interface Member {
  user_id: string;
  username: string;
  global_name: string;
  avatar: string;
  self_mute: boolean;
  self_deaf: boolean;
  /** Muted by a moderator. */
  mute: boolean;
  /** Deafened by a moderator. */
  deaf: boolean;
  self_video: boolean;
  self_stream: boolean;
  /** Set for bot accounts (the bot relaying table view among them). */
  bot?: boolean;
}

/** A room with the members in it, in join order. */
export type RoomState = Room & { members: Member[] };

/** The event types of contract v1. */
export type EventType =
  | 'room.created' | 'room.updated' | 'room.deleted'
  | 'voice.joined' | 'voice.updated' | 'voice.left'
  | 'snapshot' | 'system.status';

/** An event envelope of contract v1. */
export interface CovenEvent {
  v: number;
  epoch: string;
  seq: number;
  /** One of EventType; a newer edge may send types this version does not know. */
  type: EventType | (string & {});
  /** RFC 3339. */
  ts: string;
  guild_id: string;
  /** The type's payload (docs/protocol.md). */
  data: any;
}

export declare const EVENT_TYPES: readonly EventType[];

/** Rooms with their members and the worker's Discord link state, applied from events as the edge does. */
export declare class Projection {
  constructor();
  /** "up", "reconnecting", "down" or "" before any system.status. */
  discord: string;
  /** Applies one event; returns '' or what did not fit the state (applied anyway, as the hub does). */
  apply(ev: Pick<CovenEvent, 'type' | 'data'>): string;
  /** Replaces everything with a snapshot's rooms. */
  replace(snapshot: { rooms: RoomState[] } | null | undefined): void;
  /** The rooms with their members, in display order. */
  rooms(): RoomState[];
  /** The id of the room userId is in, if any. */
  roomOf(userId: string): string | undefined;
}

/** Orders decimal snowflakes numerically. */
export declare function compareSnowflakes(a: string, b: string): number;
