package ros

import "github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

// FeedImage and FeedCompressed hand m to c's subscriber callback, as goroslib does when a
// message arrives, so that the external tests of Read (camera_read_test.go) can feed a
// camera nobody publishes to without the network's allocations and races.
func (c *Camera) FeedImage(m *sensor_msgs.Image) { c.onImage(m) }

func (c *Camera) FeedCompressed(m *sensor_msgs.CompressedImage) { c.onCompressed(m) }
