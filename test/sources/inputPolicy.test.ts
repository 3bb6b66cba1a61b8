/** What a worker opens for a task from the broker: its operator's rules decide, and a refusal names no path. */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkInput, DEFAULT_INPUT_RULES, parseInputRules } from '../../sources/inputPolicy.js';
import { tempDir } from '../helpers/fixtures.js';

describe('worker input rules', () => {
  const { dir, cleanup } = tempDir('dls-input-policy-');
  afterAll(cleanup);
  const allowedDir = path.join(dir, 'videos');
  mkdirSync(allowedDir);
  writeFileSync(path.join(allowedDir, 'a.mp4'), 'x');
  writeFileSync(path.join(dir, 'secret.mp4'), 'x');
  symlinkSync(path.join(dir, 'secret.mp4'), path.join(allowedDir, 'link.mp4'));
  const byDefault = parseInputRules(DEFAULT_INPUT_RULES);

  it('by default takes network streams and testsrc, nothing local', () => {
    for (const spec of [
      'rtsp://10.0.0.7/live',
      'rtsps://cam/x',
      'http://cam/x.mjpeg',
      'https://cdn/x.m3u8',
      'testsrc:320x240@10',
    ])
      expect(checkInput(spec, byDefault)).toEqual({ allowed: true });
    expect(checkInput('/etc/passwd', byDefault)).toEqual({
      refused: 'refused: inputs of kind file are not allowed on this worker',
    });
    expect(checkInput('file:///etc/shadow', byDefault)).toEqual({
      refused: 'refused: inputs of kind file are not allowed on this worker',
    });
    expect(checkInput('camera:0', byDefault)).toEqual({
      refused: 'refused: inputs of kind camera are not allowed on this worker',
    });
    expect(checkInput('/dev/video0', byDefault)).toEqual({
      refused: 'refused: inputs of kind camera are not allowed on this worker',
    });
    expect(checkInput('gst:videotestsrc ! filesink location=/tmp/x', byDefault)).toEqual({
      refused: 'refused: GStreamer pipelines are not allowed on this worker',
    });
  });

  it('takes a scheme check bypass as a file, and refuses it', () => {
    expect(checkInput('cache:tcp://10.0.0.1:80/a%d.png', byDefault)).toEqual({
      refused: 'refused: inputs of kind file are not allowed on this worker',
    });
    const files = parseInputRules(`testsrc,file:${allowedDir}`);
    expect(checkInput('cache:tcp://10.0.0.1:80/a%d.png', files)).toEqual({
      refused: 'refused: this file is outside the directories allowed on this worker',
    });
  });

  it('takes files only under the directories named, after resolving .. and links, and never says whether one exists', () => {
    const files = parseInputRules(`testsrc,file:${allowedDir}`);
    expect(checkInput(path.join(allowedDir, 'a.mp4'), files)).toEqual({ allowed: true });
    expect(checkInput(`file:${path.join(allowedDir, 'frame_%05d.png')}`, files)).toEqual({ allowed: true });
    const outside = { refused: 'refused: this file is outside the directories allowed on this worker' };
    expect(checkInput(path.join(allowedDir, '..', 'secret.mp4'), files)).toEqual(outside);
    expect(checkInput(path.join(allowedDir, 'link.mp4'), files)).toEqual(outside);
    expect(checkInput('/etc/passwd', files)).toEqual(outside);
    expect(checkInput('/no/such/file.mp4', files)).toEqual(outside);
    expect(checkInput('videos/a.mp4', files)).toEqual(outside); // relative: depends on the worker's directory
    expect(checkInput(`${allowedDir}-sibling/a.mp4`, files)).toEqual(outside);
    expect(JSON.stringify(checkInput('/etc/passwd', files))).not.toContain('passwd');
  });

  it('keeps network inputs to the hosts named', () => {
    const hosts = parseInputRules('rtsp,http,host:cam1.example.com,host:.cams.example.com,host:10.0.0.7');
    expect(checkInput('rtsp://cam1.example.com/live', hosts)).toEqual({ allowed: true });
    expect(checkInput('rtsp://u:p@east.cams.example.com/live', hosts)).toEqual({ allowed: true });
    expect(checkInput('http://10.0.0.7/x.mjpeg', hosts)).toEqual({ allowed: true });
    const notListed = { refused: "refused: the input's host is not on the allowed list on this worker" };
    expect(checkInput('http://169.254.169.254/latest/meta-data', hosts)).toEqual(notListed);
    expect(checkInput('rtsp://evilcams.example.com/x', hosts)).toEqual(notListed);
    expect(checkInput('https://cam1.example.com/x', hosts)).toEqual({
      refused: 'refused: inputs of kind https are not allowed on this worker',
    });
  });

  it('says in one line what is wrong with the rules', () => {
    expect(() => parseInputRules('rtsp,ftp')).toThrow(/unknown rule "ftp"/);
    expect(() => parseInputRules('file:/no/such/dir')).toThrow(/there is no directory/);
    expect(() => parseInputRules('host:cam1')).toThrow(/allows no kind of input/);
    expect(() => parseInputRules('rtsp,host:a b')).toThrow(/not a host name/);
  });
});
