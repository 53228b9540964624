//! Reading a row's columns by position. rusqlite finds a column by name by comparing the name
//! with every column's before it, each fetched from SQLite and measured: on a request's 36
//! columns that was a third of decoding a row. Hand-written because it runs at compile time
//! (`const`), where a misspelt name stops the build instead of failing a query.

/// The position of `name` in `columns`, a list of column names separated by commas as it is
/// written into a `SELECT` (`"id, group_name, …"`). Panics, at compile time when used in a
/// `const` block, if `name` is not one of them.
pub const fn position(columns: &str, name: &str) -> usize {
    let (list, name) = (columns.as_bytes(), name.as_bytes());
    let (mut index, mut start, mut i) = (0, 0, 0);
    while i <= list.len() {
        if i == list.len() || list[i] == b',' {
            if trimmed_equals(list, start, i, name) {
                return index;
            }
            index += 1;
            start = i + 1;
        }
        i += 1;
    }
    panic!("no such column in the list");
}

/// Whether `list[start..end]`, without the spaces around it, is `name`.
const fn trimmed_equals(list: &[u8], mut start: usize, mut end: usize, name: &[u8]) -> bool {
    while start < end && list[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && list[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    if end - start != name.len() {
        return false;
    }
    let mut i = 0;
    while i < name.len() {
        if list[start + i] != name[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::position;

    #[test]
    fn finds_each_name_at_its_place_whatever_the_spacing() {
        let columns = "id, group_name,status ,\n     expires_at";
        assert_eq!(position(columns, "id"), 0);
        assert_eq!(position(columns, "group_name"), 1);
        assert_eq!(position(columns, "status"), 2);
        assert_eq!(position(columns, "expires_at"), 3);
    }

    #[test]
    #[should_panic(expected = "no such column")]
    fn a_name_not_in_the_list_is_refused_not_matched_by_a_prefix() {
        position("id, group_name", "group");
    }
}
