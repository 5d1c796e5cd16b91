/**
 * A binary min-heap under the order `before`. Mutable on purpose: its users replace entries all the
 * time, and a persistent tree would allocate a new path of nodes each time, garbage the collector
 * then has to chase. Each user keeps its own inside the scope it lives in.
 */
export class MinHeap<A> {
  private readonly items: Array<A> = []

  constructor(private readonly before: (a: A, b: A) => boolean) {}

  get size(): number {
    return this.items.length
  }

  peek(): A | undefined {
    return this.items[0]
  }

  push(item: A): void {
    const items = this.items
    items.push(item)
    let index = items.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      const child = items[index]!
      const above = items[parent]!
      if (!this.before(child, above)) break
      items[index] = above
      items[parent] = child
      index = parent
    }
  }

  pop(): A | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    items[0] = last
    let index = 0
    while (true) {
      const left = 2 * index + 1
      const right = left + 1
      let smallest = index
      if (left < items.length && this.before(items[left]!, items[smallest]!)) smallest = left
      if (right < items.length && this.before(items[right]!, items[smallest]!)) smallest = right
      if (smallest === index) break
      const moved = items[smallest]!
      items[smallest] = items[index]!
      items[index] = moved
      index = smallest
    }
    return top
  }
}
