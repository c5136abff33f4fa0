export * from './status.js';
export * from './transitions.js';
export * from './resources.js';
export * from './spec.js';
export * from './names.js';
