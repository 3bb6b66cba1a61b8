/**
 * The folders import one way (ARCHITECTURE.md); `npm run check:deps` (part of `npm test`) fails on
 * an import that climbs back up, or a cycle. Each folder lists what it may import besides itself.
 */
const PRODUCT = [
  'core',
  'io',
  'crf',
  'model',
  'operators',
  'sources',
  'zones',
  'sinks',
  'server',
  'pipeline',
  'cluster',
  'cli',
  'index\\.ts',
];
const MAY_IMPORT = {
  core: [],
  io: ['core'],
  crf: ['core', 'io'],
  model: ['core', 'io', 'crf'],
  operators: ['core', 'crf', 'model'],
  sources: ['core', 'io'],
  zones: ['core'],
  sinks: ['core', 'io', 'model', 'zones'],
  server: ['core', 'model', 'zones'],
  pipeline: ['core', 'io', 'crf', 'model', 'operators', 'sources', 'sinks', 'zones', 'server'],
  cluster: ['core', 'io', 'crf', 'model', 'operators', 'sources', 'sinks', 'zones', 'server', 'pipeline'],
  cli: ['core', 'io', 'crf', 'model', 'operators', 'sources', 'sinks', 'zones', 'server', 'pipeline', 'cluster'],
  'index\\.ts': [
    'core',
    'io',
    'crf',
    'model',
    'operators',
    'sources',
    'sinks',
    'zones',
    'server',
    'pipeline',
    'cluster',
  ],
};
const folder = (name) => (name.endsWith('.ts') ? `^${name}$` : `^${name}/`);
const layer = (name) => ({
  name: `${name.replace('\\', '')}-imports-down`,
  comment: `${name.replace('\\', '')} may import only ${MAY_IMPORT[name].join(', ') || 'nothing of the product'}`,
  severity: 'error',
  from: { path: folder(name) },
  to: {
    path: `^(${PRODUCT.filter((p) => p !== name && !MAY_IMPORT[name].includes(p))
      .map((p) => folder(p).slice(1))
      .join('|')})`,
  },
});

module.exports = {
  forbidden: [
    ...Object.keys(MAY_IMPORT).map(layer),
    {
      name: 'bench-not-in-product',
      comment: 'benchmarks measure the product; nothing of it imports them',
      severity: 'error',
      from: { path: `^(${PRODUCT.map((p) => folder(p).slice(1)).join('|')})` },
      to: { path: '^(bench|test)/' },
    },
    {
      name: 'tests-not-in-product',
      comment: 'test/ (builders, fixtures) is imported by tests and benchmarks only',
      severity: 'error',
      from: { pathNot: '^(test|bench)/' },
      to: { path: '^test/' },
    },
    {
      name: 'viewer-stands-alone',
      comment: 'viewer/ runs in the browser: it imports only viewer/',
      severity: 'error',
      from: { path: '^viewer/' },
      to: { pathNot: '^viewer/' },
    },
    { name: 'no-circular', comment: 'modules import one way', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.test.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
