/**
 * The backends a user can ask for, apart from backend.ts so that parsing a flag does not load
 * tfjs (the CLI's network-only commands never need it).
 */
export const BACKEND_CHOICES = ['auto', 'native', 'wasm', 'cpu', 'tensorflow', 'tensorflow-gpu'] as const
export type BackendChoice = typeof BACKEND_CHOICES[number]
