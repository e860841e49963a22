#include "stack/packet_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>
#include <vector>


namespace weir {
namespace {


std::vector<std::byte> iota_bytes(size_t n, int start = 0) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<uint8_t>(start + static_cast<int>(i)));
  return v;
}

std::vector<std::byte> span_vec(ByteView b) { return {b.begin(), b.end()}; }

void fill(MutableByteView b, uint8_t v) { std::fill(b.begin(), b.end(), std::byte{v}); }

TEST(ChunkTest, RefcountTracksSharing) {
  ChunkRef a = Chunk::allocate(100);
  EXPECT_EQ(a->capacity(), 100u);
  EXPECT_FALSE(a->shared());
  {
    ChunkRef b = a;
    EXPECT_TRUE(a->shared());
    EXPECT_TRUE(b->shared());
  }
  EXPECT_FALSE(a->shared());
}

TEST(ChunkTest, RecycledChunksAreIndependent) {
  // Allocate, free and allocate again many standard-size chunks: each live chunk must be
  // distinct whatever the recycling does.
  std::vector<ChunkRef> live;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) live.push_back(Chunk::allocate(2048));
    for (size_t i = 0; i < live.size(); ++i) {
      fill(live[i]->bytes(), static_cast<uint8_t>(i));
    }
    for (size_t i = 0; i < live.size(); ++i) {
      EXPECT_EQ(live[i]->bytes()[0], std::byte(static_cast<uint8_t>(i)));
      EXPECT_FALSE(live[i]->shared());
    }
    live.resize(live.size() / 3);
  }
}

TEST(PacketBufferTest, DefaultIsEmpty) {
  PacketBuffer p;
  EXPECT_EQ(p.size(), 0u);
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(p.to_vector().empty());
  auto f = p.front(0);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->empty());
  EXPECT_EQ(p.front(1).error(), Error::kBadMessage);
}

TEST(PacketBufferTest, AllocateIsZeroed) {
  // Dirty a recycled chunk first so that zeroing is really tested.
  {
    auto dirty = PacketBuffer::from_bytes(std::vector<std::byte>(1500, std::byte{0xaa}));
  }
  auto p = PacketBuffer::allocate(1500);
  EXPECT_EQ(p.size(), 1500u);
  EXPECT_EQ(p.view_count(), 1u);
  auto v = p.to_vector();
  EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](std::byte b) { return b == std::byte{0}; }));
}

TEST(PacketBufferTest, FromBytesRoundTrip) {
  auto data = iota_bytes(300);
  auto p = PacketBuffer::from_bytes(data);
  EXPECT_EQ(p.size(), 300u);
  EXPECT_EQ(p.to_vector(), data);
  auto f = p.front(300);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(span_vec(*f), data);
}

TEST(PacketBufferTest, FromBytesEmpty) {
  auto p = PacketBuffer::from_bytes({});
  EXPECT_TRUE(p.empty());
  auto h = p.push_front(20);
  EXPECT_EQ(h.size(), 20u);
  EXPECT_EQ(p.size(), 20u);
  EXPECT_EQ(p.view_count(), 1u);
}

TEST(PacketBufferTest, PushFrontUsesHeadroomInPlace) {
  auto p = PacketBuffer::from_bytes(iota_bytes(100));
  auto before = p.front(1)->data();
  auto tcp = p.push_front(20);
  fill(tcp, 0x66);
  auto ip = p.push_front(20);
  fill(ip, 0x45);
  auto eth = p.push_front(14);
  fill(eth, 0xee);
  EXPECT_EQ(p.view_count(), 1u);
  EXPECT_EQ(p.size(), 154u);
  // The headers sit right in front of the payload in the same chunk.
  EXPECT_EQ(eth.data() + 54, before);
  auto v = p.to_vector();
  EXPECT_EQ(v[0], std::byte{0xee});
  EXPECT_EQ(v[14], std::byte{0x45});
  EXPECT_EQ(v[34], std::byte{0x66});
  EXPECT_EQ(v[54], std::byte{0});
  EXPECT_EQ(v[153], std::byte{99});
}

TEST(PacketBufferTest, PushFrontZeroesHeadroom) {
  // A chunk that held other bytes comes back through the per-thread cache; pushed bytes must
  // still read as zero.
  for (int i = 0; i < 4; ++i) {
    auto p = PacketBuffer::from_bytes(iota_bytes(64));
    auto h = p.push_front(128);
    for (auto b : h) ASSERT_EQ(b, std::byte{0});
    fill(h, 0xcc);
    p.pull_front(128);
  }
}

TEST(PacketBufferTest, PushFrontWithoutHeadroomPrependsChunk) {
  auto p = PacketBuffer::from_bytes(iota_bytes(10), /*headroom=*/0);
  auto h = p.push_front(4);
  fill(h, 0x11);
  EXPECT_EQ(p.view_count(), 2u);
  EXPECT_EQ(p.size(), 14u);
  // The new chunk leaves headroom, so the next push stays in it.
  p.push_front(40);
  EXPECT_EQ(p.view_count(), 2u);
  auto v = p.to_vector();
  EXPECT_EQ(v[40], std::byte{0x11});
  EXPECT_EQ(v[44], std::byte{0});
  EXPECT_EQ(v[53], std::byte{9});
}

TEST(PacketBufferTest, PushFrontLargerThanHeadroom) {
  auto p = PacketBuffer::from_bytes(iota_bytes(10), 8);
  auto h = p.push_front(5000);
  EXPECT_EQ(h.size(), 5000u);
  EXPECT_EQ(p.size(), 5010u);
  EXPECT_EQ(p.to_vector()[5000], std::byte{0});
  EXPECT_EQ(p.to_vector()[5009], std::byte{9});
}

TEST(PacketBufferTest, PushFrontOnSharedChunkDoesNotTouchClone) {
  auto p = PacketBuffer::from_bytes(iota_bytes(50));
  auto c = p.clone();
  fill(p.push_front(8), 0x77);
  EXPECT_EQ(p.size(), 58u);
  EXPECT_EQ(p.view_count(), 2u);
  EXPECT_EQ(c.size(), 50u);
  EXPECT_EQ(c.to_vector(), iota_bytes(50));
  // The clone, now sole owner of a chunk p still shares, must not write into it either.
  fill(c.push_front(8), 0x99);
  EXPECT_EQ(p.to_vector()[0], std::byte{0x77});
  EXPECT_EQ(p.to_vector()[8], std::byte{0});
  EXPECT_EQ(c.to_vector()[0], std::byte{0x99});
}

TEST(PacketBufferTest, PushFrontReusesHeadroomOnceCloneIsGone) {
  auto p = PacketBuffer::from_bytes(iota_bytes(50));
  { auto c = p.clone(); }
  p.push_front(8);
  EXPECT_EQ(p.view_count(), 1u);
}

TEST(PacketBufferTest, PullFrontAcrossSlices) {
  auto p = PacketBuffer::from_bytes(iota_bytes(10));
  p.append(PacketBuffer::from_bytes(iota_bytes(10, 10)));
  p.append(PacketBuffer::from_bytes(iota_bytes(10, 20)));
  EXPECT_EQ(p.view_count(), 3u);
  p.pull_front(3);
  EXPECT_EQ(p.size(), 27u);
  EXPECT_EQ(p.to_vector(), iota_bytes(27, 3));
  p.pull_front(7);
  EXPECT_EQ(p.view_count(), 2u);
  EXPECT_EQ(p.to_vector(), iota_bytes(20, 10));
  p.pull_front(15);
  EXPECT_EQ(p.view_count(), 1u);
  EXPECT_EQ(p.to_vector(), iota_bytes(5, 25));
  p.pull_front(5);
  EXPECT_TRUE(p.empty());
  // The emptied packet keeps its chunk's headroom.
  p.push_front(30);
  EXPECT_EQ(p.view_count(), 1u);
  EXPECT_EQ(p.size(), 30u);
}

TEST(PacketBufferTest, PullFrontMoreThanSizeEmpties) {
  auto p = PacketBuffer::from_bytes(iota_bytes(10));
  p.pull_front(100);
  EXPECT_TRUE(p.empty());
}

TEST(PacketBufferTest, PullThenPushRewritesHeader) {
  auto p = PacketBuffer::from_bytes(iota_bytes(40));
  p.pull_front(20);
  auto h = p.push_front(20);
  EXPECT_EQ(p.view_count(), 1u);
  for (auto b : h) EXPECT_EQ(b, std::byte{0});
  EXPECT_EQ(p.to_vector()[20], std::byte{20});
}

TEST(PacketBufferTest, Truncate) {
  auto p = PacketBuffer::from_bytes(iota_bytes(10));
  p.append(PacketBuffer::from_bytes(iota_bytes(10, 10)));
  p.truncate(100);
  EXPECT_EQ(p.size(), 20u);
  p.truncate(15);
  EXPECT_EQ(p.to_vector(), iota_bytes(15));
  p.truncate(10);
  EXPECT_EQ(p.view_count(), 1u);
  EXPECT_EQ(p.to_vector(), iota_bytes(10));
  p.truncate(4);
  EXPECT_EQ(p.to_vector(), iota_bytes(4));
  p.truncate(0);
  EXPECT_TRUE(p.empty());
  EXPECT_LE(p.view_count(), 1u);
  p.append(as_bytes("ab"));
  EXPECT_EQ(p.size(), 2u);
}

TEST(PacketBufferTest, FrontWithinFirstSliceDoesNotCopy) {
  auto p = PacketBuffer::from_bytes(iota_bytes(64));
  p.append(PacketBuffer::from_bytes(iota_bytes(64, 64)));
  auto a = p.front(20);
  auto b = p.front(64);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->data(), b->data());
  EXPECT_EQ(p.view_count(), 2u);
}

TEST(PacketBufferTest, FrontLinearizesAcrossSlices) {
  auto p = PacketBuffer::from_bytes(iota_bytes(5));
  p.append(PacketBuffer::from_bytes(iota_bytes(5, 5)));
  p.append(PacketBuffer::from_bytes(iota_bytes(5, 10)));
  auto f = p.front(12);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(span_vec(*f), iota_bytes(12));
  EXPECT_EQ(p.view_count(), 2u);  // 12 linear bytes + the rest of the third slice
  EXPECT_EQ(p.size(), 15u);
  EXPECT_EQ(p.to_vector(), iota_bytes(15));
  // A second front() of the same length is now in place.
  EXPECT_EQ(p.front(12)->data(), f->data());
  // Linearized bytes keep headroom for headers in front.
  p.push_front(20);
  EXPECT_EQ(p.view_count(), 2u);
}

TEST(PacketBufferTest, FrontLinearizingEverything) {
  auto p = PacketBuffer::from_bytes(iota_bytes(5));
  p.append(PacketBuffer::from_bytes(iota_bytes(5, 5)));
  auto f = p.front(10);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(p.view_count(), 1u);
  EXPECT_EQ(span_vec(*f), iota_bytes(10));
}

TEST(PacketBufferTest, FrontTooShortIsError) {
  auto p = PacketBuffer::from_bytes(iota_bytes(19));
  auto f = p.front(20);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error(), Error::kBadMessage);
  EXPECT_EQ(p.size(), 19u);
  EXPECT_FALSE(p.mutable_front(20).ok());
}

TEST(PacketBufferTest, MutableFrontCopiesSharedChunk) {
  auto p = PacketBuffer::from_bytes(iota_bytes(40));
  auto c = p.clone();
  auto m = p.mutable_front(4);
  ASSERT_TRUE(m.ok());
  fill(*m, 0xff);
  EXPECT_EQ(c.to_vector(), iota_bytes(40));
  auto pv = p.to_vector();
  EXPECT_EQ(pv[3], std::byte{0xff});
  EXPECT_EQ(pv[4], std::byte{4});
  EXPECT_EQ(p.size(), 40u);
}

TEST(PacketBufferTest, MutableFrontInPlaceWhenUnshared) {
  auto p = PacketBuffer::from_bytes(iota_bytes(40));
  auto before = p.front(1)->data();
  auto m = p.mutable_front(10);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(static_cast<const std::byte*>(m->data()), before);
  (*m)[0] = std::byte{0x42};
  EXPECT_EQ(p.to_vector()[0], std::byte{0x42});
}

TEST(PacketBufferTest, MutableFrontOnSliceOfSelf) {
  // Two slices of the same chunk inside one packet: writing through one must not change the
  // other.
  auto p = PacketBuffer::from_bytes(iota_bytes(8));
  auto again = p.slice(0, 8);
  p.append(std::move(again));
  auto m = p.mutable_front(8);
  ASSERT_TRUE(m.ok());
  fill(*m, 0);
  auto v = p.to_vector();
  EXPECT_EQ(v[7], std::byte{0});
  EXPECT_EQ(v[8], std::byte{0});
  EXPECT_EQ(v[15], std::byte{7});
}

TEST(PacketBufferTest, AppendBytesFillsTailRoom) {
  auto p = PacketBuffer::from_bytes(iota_bytes(10));
  p.append(iota_bytes(10, 10));
  EXPECT_EQ(p.view_count(), 1u);
  EXPECT_EQ(p.to_vector(), iota_bytes(20));
  // Past the chunk's end, a new chunk follows.
  p.append(iota_bytes(5000, 20));
  EXPECT_EQ(p.size(), 5020u);
  EXPECT_GE(p.view_count(), 2u);
  EXPECT_EQ(p.to_vector(), iota_bytes(5020));
}

TEST(PacketBufferTest, AppendBytesDoesNotWriteSharedTail) {
  auto p = PacketBuffer::from_bytes(iota_bytes(10));
  auto c = p.clone();
  p.append(as_bytes("xyz"));
  c.append(as_bytes("abc"));
  auto pv = p.to_vector();
  auto cv = c.to_vector();
  EXPECT_EQ(pv[10], std::byte{'x'});
  EXPECT_EQ(cv[10], std::byte{'a'});
}

TEST(PacketBufferTest, AppendToEmpty) {
  PacketBuffer p;
  p.append(as_bytes("hello"));
  EXPECT_EQ(p.size(), 5u);
  p.push_front(20);
  EXPECT_EQ(p.view_count(), 1u);
}

TEST(PacketBufferTest, AppendPacketMovesSlicesAndKeepsMeta) {
  auto p = PacketBuffer::from_bytes(iota_bytes(3));
  p.meta().network_protocol = 0x0800;
  auto q = PacketBuffer::from_bytes(iota_bytes(4, 3));
  q.meta().network_protocol = 0x86dd;
  p.append(std::move(q));
  EXPECT_EQ(p.size(), 7u);
  EXPECT_EQ(p.to_vector(), iota_bytes(7));
  EXPECT_EQ(p.meta().network_protocol, 0x0800);
  EXPECT_TRUE(q.empty());  // NOLINT(bugprone-use-after-move): documented to be emptied
  PacketBuffer empty;
  p.append(std::move(empty));
  EXPECT_EQ(p.size(), 7u);
  PacketBuffer e2 = PacketBuffer::allocate(0);
  e2.append(PacketBuffer::from_bytes(iota_bytes(2)));
  EXPECT_EQ(e2.view_count(), 1u);
  EXPECT_EQ(e2.to_vector(), iota_bytes(2));
}

// Slices that continue each other in one chunk become one view; a gap or another chunk
// keeps them apart.
TEST(PacketBufferTest, AppendPacketJoinsSlicesThatContinueInOneChunk) {
  ChunkRef chunk = Chunk::allocate(4096);
  copy_bytes(chunk->bytes(), 0, iota_bytes(4096));
  auto p = PacketBuffer::from_chunk(chunk, 0, 100);
  p.append(PacketBuffer::from_chunk(chunk, 100, 200));
  EXPECT_EQ(p.view_count(), 1u);
  EXPECT_EQ(p.to_vector(), iota_bytes(300));
  p.append(PacketBuffer::from_chunk(chunk, 400, 100));  // skips 300..399
  EXPECT_EQ(p.view_count(), 2u);
  p.append(PacketBuffer::from_bytes(iota_bytes(10)));
  EXPECT_EQ(p.view_count(), 3u);
  EXPECT_EQ(p.size(), 410u);
  const auto v = p.to_vector();
  const auto all = iota_bytes(4096);
  EXPECT_EQ(std::vector<std::byte>(v.begin() + 300, v.begin() + 400),
            std::vector<std::byte>(all.begin() + 400, all.begin() + 500));
}

// Adopted memory is the writer's (a zero-copy write): appended bytes never go into its tail
// room, even with no one else holding it.
TEST(PacketBufferTest, AppendBytesNeverWritesIntoAdoptedMemory) {
  std::vector<std::byte> owner_bytes(2048, std::byte{0x55});
  auto release = [](void*) noexcept {};
  auto p = PacketBuffer::from_chunk(Chunk::adopt(owner_bytes, release, nullptr), 0, 100);
  p.append(as_bytes("xyz"));
  EXPECT_EQ(p.view_count(), 2u);
  EXPECT_EQ(owner_bytes[100], std::byte{0x55});
  EXPECT_EQ(p.to_vector()[100], std::byte{'x'});
}

TEST(PacketBufferTest, CloneSharesAndCopiesMeta) {
  auto p = PacketBuffer::from_bytes(iota_bytes(20));
  p.meta().nic = 7;
  p.meta().link_source = MacAddress({2, 0, 0, 0, 0, 1});
  auto c = p.clone();
  EXPECT_EQ(c.meta().nic, 7u);
  EXPECT_EQ(c.meta().link_source, p.meta().link_source);
  EXPECT_EQ(c.front(20)->data(), p.front(20)->data());
  c.pull_front(5);
  EXPECT_EQ(p.size(), 20u);
  EXPECT_EQ(c.to_vector(), iota_bytes(15, 5));
}

TEST(PacketBufferTest, SliceClampsAndShares) {
  auto p = PacketBuffer::from_bytes(iota_bytes(10));
  p.append(PacketBuffer::from_bytes(iota_bytes(10, 10)));
  p.meta().nic = 3;
  auto s = p.slice(5, 10);
  EXPECT_EQ(s.to_vector(), iota_bytes(10, 5));
  EXPECT_EQ(s.view_count(), 2u);
  EXPECT_EQ(s.meta().nic, 3u);
  EXPECT_EQ(p.slice(15, 100).to_vector(), iota_bytes(5, 15));
  EXPECT_TRUE(p.slice(20, 5).empty());
  EXPECT_TRUE(p.slice(1000, 5).empty());
  EXPECT_TRUE(p.slice(3, 0).empty());
  // Writing into the slice copies first.
  fill(*s.mutable_front(3), 0xab);
  EXPECT_EQ(p.to_vector(), [] {
    auto v = iota_bytes(10);
    auto w = iota_bytes(10, 10);
    v.insert(v.end(), w.begin(), w.end());
    return v;
  }());
}

// A packet in one slice is sliced inline: the slice holds that one slice's chunk (no copy),
// clamped like any other, with the metadata; an empty range holds no slice at all.
TEST(PacketBufferTest, SliceOfOneSlicePacketSharesItsChunk) {
  auto p = PacketBuffer::from_bytes(iota_bytes(10));
  p.meta().nic = 7;
  ASSERT_EQ(p.view_count(), 1u);
  auto s = p.slice(3, 4);
  EXPECT_EQ(s.to_vector(), iota_bytes(4, 3));
  EXPECT_EQ(s.view_count(), 1u);
  EXPECT_EQ(s.front_chunk(), p.front_chunk());
  EXPECT_EQ(s.front_offset(), p.front_offset() + 3);
  EXPECT_EQ(s.meta().nic, 7u);
  EXPECT_EQ(p.slice(8, 100).to_vector(), iota_bytes(2, 8));
  EXPECT_EQ(p.slice(3, 0).view_count(), 0u);
  EXPECT_TRUE(p.slice(3, 0).empty());
  EXPECT_EQ(p.slice(10, 1).view_count(), 0u);
  EXPECT_EQ(p.slice(10, 1).meta().nic, 7u);
  // Shared with p, so writing into the slice copies first.
  fill(*s.mutable_front(2), 0xab);
  EXPECT_EQ(p.to_vector(), iota_bytes(10));
}

// Move-assignment lets go of what the target held: a chunk it shared with another packet is
// that packet's alone afterwards, so its headroom is written in place.
TEST(PacketBufferTest, MoveAssignmentLetsGoOfTheTargetsChunks) {
  for (size_t count : {1u, 2u, 3u}) {
    SCOPED_TRACE(count);
    auto dst = PacketBuffer::from_bytes(iota_bytes(5));
    for (size_t i = 1; i < count; ++i) dst.append(PacketBuffer::from_bytes(iota_bytes(5)));
    PacketBuffer keep = dst.clone();
    dst = PacketBuffer::from_bytes(iota_bytes(3, 50));
    EXPECT_EQ(dst.to_vector(), iota_bytes(3, 50));
    const Chunk* first = keep.front_chunk();
    keep.push_front(2);
    EXPECT_EQ(keep.front_chunk(), first);
  }
}

TEST(PacketBufferTest, CopyOut) {
  auto p = PacketBuffer::from_bytes(iota_bytes(6));
  p.append(PacketBuffer::from_bytes(iota_bytes(6, 6)));
  std::vector<std::byte> out(5);
  p.copy_out(4, out);
  EXPECT_EQ(out, iota_bytes(5, 4));
  std::vector<std::byte> none;
  p.copy_out(12, none);
  std::vector<std::byte> all(12);
  p.copy_out(0, all);
  EXPECT_EQ(all, iota_bytes(12));
}

TEST(PacketBufferDeathTest, CopyOutPastEndAborts) {
  auto p = PacketBuffer::from_bytes(iota_bytes(6));
  std::vector<std::byte> out(5);
  EXPECT_DEATH(p.copy_out(2, out), "");
}

TEST(PacketBufferTest, FromChunkIsZeroCopy) {
  ChunkRef c = Chunk::allocate(256);
  copy_bytes(c->bytes(), 100, iota_bytes(50));
  auto p = PacketBuffer::from_chunk(c, 100, 50);
  EXPECT_EQ(p.to_vector(), iota_bytes(50));
  EXPECT_EQ(p.front(1)->data(), c->bytes().data() + 100);
  // The caller still holds the chunk: headers must not be written into it.
  p.push_front(14);
  EXPECT_EQ(p.view_count(), 2u);
  c.reset();
  auto q = PacketBuffer::from_chunk(Chunk::allocate(256), 64, 10);
  q.push_front(14);
  EXPECT_EQ(q.view_count(), 1u);
}

// Bytes owned elsewhere (a DPDK mbuf): wrapped without a copy, written in place (headroom),
// and handed back exactly once, when the last packet sharing them goes.
TEST(PacketBufferTest, AdoptedChunkReleasesOnceWhenTheLastReferenceGoes) {
  std::vector<std::byte> owner_bytes(2048);
  struct Owner {
    int released = 0;
  } owner;
  auto release = [](void* context) noexcept { ++static_cast<Owner*>(context)->released; };
  copy_bytes(owner_bytes, 128, iota_bytes(60));
  auto p = PacketBuffer::from_chunk(Chunk::adopt(owner_bytes, release, &owner), 128, 60);
  EXPECT_EQ(p.front(1)->data(), owner_bytes.data() + 128);  // no copy
  EXPECT_EQ(p.to_vector(), iota_bytes(60));
  // Sole owner: the header goes into the adopted bytes' headroom.
  p.push_front(14);
  EXPECT_EQ(p.view_count(), 1u);
  EXPECT_EQ(p.front(1)->data(), owner_bytes.data() + 114);
  PacketBuffer q = p.clone();
  PacketBuffer r = p.slice(14, 10);
  p = PacketBuffer();
  q = PacketBuffer();
  EXPECT_EQ(owner.released, 0);
  EXPECT_EQ(r.to_vector(), iota_bytes(10));
  r = PacketBuffer();
  EXPECT_EQ(owner.released, 1);
  // A fresh allocation of the same size never hands back the adopted bytes (no recycling).
  ChunkRef fresh = Chunk::allocate(2048);
  EXPECT_NE(fresh->bytes().data(), owner_bytes.data());
}

TEST(PacketBufferTest, ForEachViewCoversBytes) {
  auto p = PacketBuffer::from_bytes(iota_bytes(7));
  p.append(PacketBuffer::from_bytes(iota_bytes(9, 7)));
  std::vector<std::byte> seen;
  p.for_each_view([&](ByteView v) { seen.insert(seen.end(), v.begin(), v.end()); });
  EXPECT_EQ(seen, iota_bytes(16));
}

TEST(PacketBufferTest, MoveLeavesSourceEmpty) {
  auto p = PacketBuffer::from_bytes(iota_bytes(7));
  PacketBuffer q = std::move(p);
  EXPECT_EQ(q.to_vector(), iota_bytes(7));
}

// Moves and move-assignments between packets whose slices are inline (one or two) and packets
// whose slices spilled to the heap (three or more), in every pairing: the bytes go with the
// move, the source is left empty, and the chunks' references are neither lost nor doubled
// (a chunk still shared after the moves would make push_front copy instead of writing in place).
TEST(PacketBufferTest, MovesBetweenInlineAndSpilledSlices) {
  auto with_slices = [](size_t count, int start) {
    auto p = PacketBuffer::from_bytes(iota_bytes(5, start));
    for (size_t i = 1; i < count; ++i) {
      p.append(PacketBuffer::from_bytes(iota_bytes(5, start + static_cast<int>(5 * i))));
    }
    return p;
  };
  for (size_t from : {1u, 2u, 3u, 9u}) {
    for (size_t to : {0u, 1u, 2u, 3u, 9u}) {
      SCOPED_TRACE(testing::Message() << from << " slices over " << to);
      auto src = with_slices(from, 0);
      auto expected = src.to_vector();
      PacketBuffer moved(std::move(src));
      EXPECT_EQ(moved.view_count(), from);
      EXPECT_EQ(src.view_count(), 0u);
      PacketBuffer dst = to == 0 ? PacketBuffer() : with_slices(to, 100);
      dst = std::move(moved);
      EXPECT_EQ(dst.to_vector(), expected);
      EXPECT_EQ(dst.view_count(), from);
      EXPECT_EQ(moved.view_count(), 0u);
      // Reused after the move, the source takes new bytes like a fresh packet.
      moved = PacketBuffer::from_bytes(iota_bytes(3));
      EXPECT_EQ(moved.to_vector(), iota_bytes(3));
      // Nobody else holds the first chunk, so its headroom is written in place.
      const Chunk* first = dst.front_chunk();
      dst.push_front(4);
      EXPECT_EQ(dst.front_chunk(), first);
      dst.pull_front(4);
      EXPECT_EQ(dst.to_vector(), expected);
    }
  }
}

TEST(PacketBufferTest, ClonesAcrossThreadsReleaseSafely) {
  // Chunks are released on whichever thread drops the last reference.
  auto p = PacketBuffer::from_bytes(iota_bytes(100));
  std::vector<PacketBuffer> clones;
  for (int i = 0; i < 100; ++i) clones.push_back(p.clone());
  std::thread t([c = std::move(clones)]() mutable { c.clear(); });
  t.join();
  EXPECT_EQ(p.to_vector(), iota_bytes(100));
  p.push_front(4);
  EXPECT_EQ(p.view_count(), 1u);
}

// Random operation sequences against a plain byte vector.
TEST(PacketBufferTest, RandomOperationsMatchModel) {
  std::mt19937 gen(1234);
  auto rnd = [&](size_t lo, size_t hi) {
    return std::uniform_int_distribution<size_t>(lo, hi)(gen);
  };
  int counter = 0;
  auto fresh = [&](size_t n) {
    std::vector<std::byte> v(n);
    for (auto& b : v) b = std::byte(static_cast<uint8_t>(counter++));
    return v;
  };
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::byte> model = fresh(rnd(0, 300));
    auto p = PacketBuffer::from_bytes(model, rnd(0, 200));
    std::vector<std::pair<PacketBuffer, std::vector<std::byte>>> others;
    for (int step = 0; step < 60; ++step) {
      switch (rnd(0, 10)) {
        case 0: {
          size_t n = rnd(0, 80);
          auto h = p.push_front(n);
          ASSERT_EQ(h.size(), n);
          auto data = fresh(n);
          std::copy(data.begin(), data.end(), h.begin());
          model.insert(model.begin(), data.begin(), data.end());
          break;
        }
        case 1: {
          size_t n = rnd(0, model.size() + 3);
          p.pull_front(n);
          model.erase(model.begin(), model.begin() + static_cast<ptrdiff_t>(std::min(n, model.size())));
          break;
        }
        case 2: {
          size_t n = rnd(0, model.size() + 3);
          p.truncate(n);
          if (n < model.size()) model.resize(n);
          break;
        }
        case 3: {
          size_t n = rnd(0, model.size() + 3);
          auto f = p.front(n);
          if (n > model.size()) {
            ASSERT_FALSE(f.ok());
          } else {
            ASSERT_TRUE(f.ok());
            ASSERT_TRUE(std::equal(f->begin(), f->end(), model.begin()));
          }
          break;
        }
        case 4: {
          size_t n = rnd(0, model.size());
          auto m = p.mutable_front(n);
          ASSERT_TRUE(m.ok());
          auto data = fresh(n);
          std::copy(data.begin(), data.end(), m->begin());
          std::copy(data.begin(), data.end(), model.begin());
          break;
        }
        case 5: {
          auto data = fresh(rnd(0, 500));
          p.append(data);
          model.insert(model.end(), data.begin(), data.end());
          break;
        }
        case 6: {
          auto data = fresh(rnd(0, 100));
          auto q = PacketBuffer::from_bytes(data, rnd(0, 20));
          p.append(std::move(q));
          model.insert(model.end(), data.begin(), data.end());
          break;
        }
        case 7:
          others.emplace_back(p.clone(), model);
          break;
        case 8: {
          size_t off = rnd(0, model.size() + 2);
          size_t len = rnd(0, model.size() + 2);
          auto s = p.slice(off, len);
          std::vector<std::byte> sm;
          if (off < model.size()) {
            size_t l = std::min(len, model.size() - off);
            sm.assign(model.begin() + static_cast<ptrdiff_t>(off),
                      model.begin() + static_cast<ptrdiff_t>(off + l));
          }
          others.emplace_back(std::move(s), std::move(sm));
          break;
        }
        case 9: {
          if (others.empty()) break;
          // Swap to one of the saved packets: its bytes must not have changed.
          size_t i = rnd(0, others.size() - 1);
          ASSERT_EQ(others[i].first.to_vector(), others[i].second);
          std::swap(p, others[i].first);
          std::swap(model, others[i].second);
          others[i].first.push_front(0);
          break;
        }
        default: {
          size_t off = rnd(0, model.size());
          std::vector<std::byte> out(rnd(0, model.size() - off));
          p.copy_out(off, out);
          ASSERT_TRUE(std::equal(out.begin(), out.end(),
                                 model.begin() + static_cast<ptrdiff_t>(off)));
          break;
        }
      }
      ASSERT_EQ(p.size(), model.size()) << "trial " << trial << " step " << step;
      ASSERT_EQ(p.to_vector(), model) << "trial " << trial << " step " << step;
    }
    for (auto& [pkt, m] : others) ASSERT_EQ(pkt.to_vector(), m);
  }
}

}  // namespace
}  // namespace weir
