// Test data: build* is pure, create* persists through the superuser client.
import { randomBytes } from 'node:crypto';
import type { PrismaClient } from '../../src/generated/prisma/client.js';

export interface ItemInput {
  title: string;
  body: string;
  tags: string[];
}

export function buildItem(overrides: Partial<ItemInput> = {}): ItemInput {
  return { title: `Item ${randomBytes(5).toString('hex')}`, body: '', tags: [], ...overrides };
}

export function createItem(prisma: PrismaClient, ownerId: number, overrides: Partial<ItemInput> = {}) {
  return prisma.item.create({ data: { ...buildItem(overrides), ownerId } });
}
