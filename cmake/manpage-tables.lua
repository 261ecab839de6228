-- pandoc Lua filter for the man pages (cmake/Manpages.cmake): pandoc's man
-- writer gives a table with long rows column widths that add up to the whole
-- 70n text width, and tbl then adds 3n between columns, so the table is wider
-- than the page at 80 columns ("table wider than line width"). Scale the
-- relative widths so that columns and gaps fit in 70n.
function Table(t)
  local n, sum = #t.colspecs, 0
  for _, spec in ipairs(t.colspecs) do
    if type(spec[2]) == 'number' then sum = sum + spec[2] end
  end
  local room = (70 - 3 * (n - 1)) / 70
  if sum <= room or sum == 0 then return nil end
  for _, spec in ipairs(t.colspecs) do
    if type(spec[2]) == 'number' then spec[2] = spec[2] * room / sum end
  end
  return t
end
