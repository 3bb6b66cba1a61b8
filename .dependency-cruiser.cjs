/**
 * The layers import one way (ARCHITECTURE.md): core ← model ← operators, server ← pipeline.
 * `npm run check:deps` (part of `npm test`) fails on an import that climbs back up, or a cycle.
 */
const layer = (name, mayNotImport, why) => ({
  name,
  comment: why,
  severity: 'error',
  from: { path: `^${name.split('-')[0]}/` },
  to: { path: `^(${mayNotImport.join('|')})/` },
});

module.exports = {
  forbidden: [
    layer('core-is-the-ground', ['model', 'operators', 'server', 'pipeline', 'viewer'], 'core/ holds the shared types and errors; it imports no layer'),
    layer('model-below-operators', ['operators', 'server', 'pipeline'], 'model/ uses only core/'),
    layer('operators-below-pipeline', ['server', 'pipeline'], 'operators/ use core/ and model/'),
    layer('server-below-pipeline', ['operators', 'pipeline'], 'server/ uses core/ and model/'),
    { name: 'no-circular', comment: 'modules import one way', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
