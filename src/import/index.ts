/** Importers of other tools' configs into lvsd's. */
export * from './keepalived/index.js';
