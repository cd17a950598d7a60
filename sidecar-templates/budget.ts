/**
 * Memory and disk budgets of the agent sidecar, derived from its memory limit, the buffer
 * volume's sizeLimit and the pod's streams (docs/pipelines.md "Memory and disk arithmetic").
 * Pure arithmetic in whole MiB, shared by both renderers so the two agents promise the same.
 *
 * MEMORY (limit M, N streams):
 *   available = M - base(agent) - N x perStream        base: Fluent Bit 32 MiB, Fluentd 96 MiB;
 *                                                       perStream 2 MiB (read buffer, filter copies)
 *   budget    = available / 2                           the other half is headroom: a chunk is copied
 *                                                       by filters and by the output's formatter
 *   share     = budget / N                              per stream
 *  Fluent Bit: a memory-buffered stream's Mem_Buf_Limit = share; the filesystem streams' shares
 *  pool into storage.max_chunks_up (x 2 MiB a chunk) and storage.backlog.mem_limit (a quarter);
 *  a Kafka stream gives half its share to librdkafka's queue (queue.buffering.max.kbytes).
 *  Fluentd: a memory buffer's total_limit_size = share; every buffer's chunk_limit_size is at most
 *  a quarter of its share (a chunk is held in memory while it is written out), at most 8 MiB, and
 *  for forward at most 5 MiB, under a receiving Fluent Bit's 6,144,000-byte Buffer_Max_Size.
 *
 * DISK (buffer volume sizeLimit S):
 *   reserve = max(16 MiB, S/10) + 2 MiB per unit      a chunk file is written before its limit is
 *                                                       checked; metadata (.meta files)
 *   unit    = (S - reserve) / units                     units: one per critical stream, one more per
 *                                                       S3 stream (its staging)
 *  Fluent Bit: storage.total_limit_size = unit per critical output; store_dir_limit_size = unit per
 *  S3 output. Fluentd: total_limit_size = unit per file buffer (S3's buffer is its staging), minus
 *  one chunk for S3 (fluent-plugin-s3 compresses a chunk into a Tempfile next to it).
 * Everything on the volume therefore adds up to at most S - reserve + reserve = S.
 */
import type { AgentName } from '../webhook/core/annotations.js';
import { parseQuantity } from '../webhook/core/quantity.js';

export const MIB = 2 ** 20;
export const AGENT_BASE_MIB: Readonly<Record<AgentName, number>> = { 'fluent-bit': 32, fluentd: 96 };
export const PER_STREAM_MIB = 2;
/** Fluent Bit's largest chunk (flb_input_chunk: FLB_INPUT_CHUNK_FS_MAX_SIZE is 2 MB). */
export const FB_CHUNK_MIB = 2;
/** in_forward's default Buffer_Max_Size; a Fluentd chunk forwarded whole must stay under it. */
export const FORWARD_RECEIVER_MAX_BYTES = 6_144_000;
export const FORWARD_CHUNK_MIB = 5;
export const MAX_CHUNK_MIB = 8;
/** Limits assumed when the policy gives the agent none. */
export const DEFAULT_MEMORY = '256Mi';
export const DEFAULT_BUFFER = '1Gi';

export interface BudgetStream {
  readonly name: string;
  readonly critical: boolean;
  readonly outputType: string;
}

export interface Budget {
  readonly memoryLimitMib: number;
  readonly memoryShareMib: number;
  readonly bufferSizeMib: number;
  readonly reserveMib: number;
  /** Disk per unit (one per critical stream, one more per S3 stream's staging). */
  readonly diskUnitMib: number;
  /** What the user should know (the limits are too small to do this well). */
  readonly warnings: string[];
}

const mib = (q: string | undefined, fallback: string) => Math.floor((parseQuantity(q ?? fallback) ?? parseQuantity(fallback)!) / MIB);

/** Whether a stream keeps data on the buffer volume (critical chunks or S3 staging). */
export const usesDisk = (s: Pick<BudgetStream, 'critical' | 'outputType'>) => s.critical || s.outputType === 's3';
/** Disk units a stream takes. */
export const diskUnits = (s: Pick<BudgetStream, 'critical' | 'outputType'>, agent: AgentName) =>
  agent === 'fluent-bit' ? (s.critical ? 1 : 0) + (s.outputType === 's3' ? 1 : 0) : usesDisk(s) ? 1 : 0;

/** Disk kept free beyond the limits: a tenth (at least 16 MiB), plus one chunk per bounded area (`units`). */
export function reserveMib(bufferSizeMib: number, units: number): number {
  return Math.max(16, Math.ceil(bufferSizeMib / 10)) + FB_CHUNK_MIB * units;
}

export function planBudget(agent: AgentName, streams: readonly BudgetStream[], memoryLimit: string | undefined, bufferSize: string): Budget {
  const warnings: string[] = [];
  const n = Math.max(1, streams.length);
  const memoryLimitMib = mib(memoryLimit, DEFAULT_MEMORY);
  const available = memoryLimitMib - AGENT_BASE_MIB[agent] - PER_STREAM_MIB * n;
  const memoryShareMib = Math.max(1, Math.floor(Math.max(0, available) / 2 / n));
  if (available / 2 / n < 1) {
    const need = AGENT_BASE_MIB[agent] + (PER_STREAM_MIB + 2) * n;
    warnings.push(`the ${agent} sidecar's memory limit (${memoryLimitMib}Mi) is too small for ${streams.length} streams: each gets the 1 MiB minimum and the agent may be OOM-killed; give it at least ${need}Mi (sidelog.io/resources agent.limits.memory)`);
  }
  const bufferSizeMib = mib(bufferSize, DEFAULT_BUFFER);
  const units = streams.reduce((sum, s) => sum + diskUnits(s, agent), 0);
  const reserve = reserveMib(bufferSizeMib, units);
  const unit = units === 0 ? 0 : Math.floor((bufferSizeMib - reserve) / units);
  if (units > 0 && unit < 4) {
    warnings.push(`the buffer volume (${bufferSizeMib}Mi) is too small for ${units} buffers: each gets ${Math.max(unit, 0)}Mi; raise the policy's defaults.bufferSize`);
  }
  return { memoryLimitMib, memoryShareMib, bufferSizeMib, reserveMib: reserve, diskUnitMib: Math.max(1, unit), warnings };
}

/** A Fluentd chunk size for a buffer with `shareMib` of memory: a quarter of it, capped. */
export function fluentdChunkMib(shareMib: number, outputType: string): number {
  const cap = outputType === 'forward' ? FORWARD_CHUNK_MIB : MAX_CHUNK_MIB;
  return Math.max(1, Math.min(cap, Math.floor(shareMib / 4)));
}
