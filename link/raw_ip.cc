// deliver_raw_ip_packet() is inline in the header; this unit checks that the header stands alone.
#include "link/raw_ip.h"
