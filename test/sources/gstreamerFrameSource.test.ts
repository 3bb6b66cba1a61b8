import { describe, expect, it } from 'vitest';
import type { Frame } from '../../core/frames.js';
import { GstFrameSource, gstreamerBinding } from '../../sources/gstreamerFrameSource.js';
import { startServe, TestViewer } from '../helpers/liveServer.js';

describe('GstFrameSource (gstreamer-superficial, installed by .ci/install)', () => {
  it('is installed', () => {
    expect(gstreamerBinding()).not.toBeNull();
  });

  it('reads RGB frames with the size and rate from the caps, rows unpadded (322 wide = 968-byte rows)', async () => {
    const source = await GstFrameSource.open(
      'videotestsrc is-live=true pattern=solid-color foreground-color=0xff336699 num-buffers=5 ! video/x-raw,width=322,height=240,framerate=25/1',
      'solid',
      'gst:solid',
    );
    try {
      expect([source.width, source.height, source.fps]).toEqual([322, 240, 25]);
      const frames: Frame[] = [];
      for (let frame = await source.next(); frame; frame = await source.next()) frames.push(frame);
      expect(frames.length).toBeGreaterThanOrEqual(4); // live at 25 fps: the reader keeps up (the appsink would drop otherwise)
      expect(frames.map((f) => f.index)).toEqual([...frames.keys()].map((i) => frames[0]!.index + i));
      for (const frame of frames) {
        expect(frame.rgb.length).toBe(322 * 240 * 3);
        const wrong = frame.rgb.findIndex((v, i) => v !== [0x33, 0x66, 0x99][i % 3]);
        expect(wrong).toBe(-1);
      }
    } finally {
      source.close();
    }
  });

  it('says what is wrong with a pipeline it cannot build', async () => {
    await expect(GstFrameSource.open('nosuchelement', 'x', 'gst:nosuchelement')).rejects.toThrow(
      /^gst:nosuchelement: GStreamer cannot build the pipeline \(no element "nosuchelement"\)/,
    );
  });

  it('serves a gst: input to viewers', async () => {
    const serve = await startServe([
      'gst:videotestsrc is-live=true pattern=ball ! video/x-raw,width=322,height=180,framerate=15/1',
    ]);
    const viewer = await TestViewer.connect(`${serve.url}/ws`);
    try {
      await viewer.until((v) => v.frames.length >= 3, 30_000, 'frames from GStreamer');
      expect(viewer.frames[0]!.header.streamId).toBe('gst');
      expect(viewer.frames[0]!.labels.length).toBe(322 * 180);
    } finally {
      viewer.close();
      await serve.stop();
    }
  });
});
