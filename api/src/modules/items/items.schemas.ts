import { z } from 'zod';
import { cursor, decodeCursor, id, limit, text } from '../../lib/schemas.js';

export const ItemSchema = z
  .object({
    id: z.number().int(),
    ownerId: z.number().int(),
    title: z.string(),
    body: z.string(),
    tags: z.array(z.string()),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Item');

export type ItemDto = z.infer<typeof ItemSchema>;

export const ItemPageSchema = z
  .object({
    data: z.array(ItemSchema),
    nextCursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last page'),
  })
  .openapi('ItemPage');

const tag = z
  .string()
  .toLowerCase()
  .min(1)
  .max(50)
  .regex(/^[a-z0-9-]+$/, 'must contain only letters, digits and hyphens')
  .openapi({ example: 'home-lab' });

const tags = z
  .array(tag)
  .max(20)
  .transform((values) => [...new Set(values)])
  .describe('up to 20 tags, lowercased; duplicates are removed');

const title = text(200);
const body = text(50_000, { min: 0 });

export const CreateItemBody = z
  .object({
    title,
    body: body.optional(),
    tags: tags.optional(),
    ownerId: id.optional().describe('admins only: create the item for this user'),
  })
  .strict()
  .openapi('CreateItemRequest');

export type CreateItemInput = z.output<typeof CreateItemBody>;

export const UpdateItemBody = z
  .object({ title: title.optional(), body: body.optional(), tags: tags.optional() })
  .strict()
  .refine((patch) => Object.values(patch).some((value) => value !== undefined), 'must change at least one field')
  .openapi('UpdateItemRequest');

export type UpdateItemInput = z.output<typeof UpdateItemBody>;

export const ListItemsQuery = z.object({
  ownerId: id.optional().describe('only this owner’s items (admins; others may only name themselves)'),
  tag: tag.optional().describe('only items having this tag'),
  q: text(200).optional().describe('case-insensitive substring of the title'),
  limit,
  cursor: cursor
    .transform((raw, context) => {
      const decoded = decodeCursor(raw);
      if (!decoded || !id.safeParse(decoded.id).success) {
        context.addIssue({ code: 'custom', message: 'is not a valid cursor' });
        return z.NEVER;
      }
      return decoded.id;
    })
    .optional()
    .describe('`nextCursor` of the previous page'),
});

export type ListItemsInput = z.output<typeof ListItemsQuery>;
