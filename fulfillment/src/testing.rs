//! Reading PDF tickets back the way a person or a door scanner would
//! (feature `testing`): for this crate's tests and for black-box tests of
//! the engine's emails and downloads.

use lopdf::Document;

/// Each page's text, in page order.
pub fn page_texts(pdf: &[u8]) -> Vec<String> {
    let doc = Document::load_mem(pdf).unwrap();
    let pages = doc.get_pages();
    pages
        .keys()
        .map(|&number| doc.extract_text(&[number]).unwrap())
        .collect()
}

/// Each page's QR image, decoded as a scanner would: scaled up (a reader
/// shows it at 170 pt), then found and read by rqrr.
pub fn page_qr_payloads(pdf: &[u8]) -> Vec<String> {
    const SCALE: usize = 4;
    let doc = Document::load_mem(pdf).unwrap();
    doc.get_pages()
        .values()
        .map(|&page_id| {
            let images = doc.get_page_images(page_id).unwrap();
            assert_eq!(images.len(), 1, "one QR image per page");
            let image = &images[0];
            assert_eq!(image.bits_per_component, Some(1));
            assert_eq!(image.color_space.as_deref(), Some("DeviceGray"));
            let (width, height) = (image.width as usize, image.height as usize);
            let row_bytes = width.div_ceil(8);
            let white =
                |x: usize, y: usize| image.content[y * row_bytes + x / 8] & (0x80 >> (x % 8)) != 0;
            let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
                width * SCALE,
                height * SCALE,
                |x, y| if white(x / SCALE, y / SCALE) { 255 } else { 0 },
            );
            let grids = prepared.detect_grids();
            assert_eq!(grids.len(), 1, "one QR code in the image");
            grids[0].decode().unwrap().1
        })
        .collect()
}
